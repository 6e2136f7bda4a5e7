async def test_metrics_are_admin_only(client, make_user):
    assert (await client.get("/metrics")).status == 401
    _, user = await make_user("plain@example.com")
    assert (await client.get("/metrics", headers=user)).status == 403


async def test_metrics_count_requests_by_route_and_show_the_engine(client, make_user):
    _, admin = await make_user("boss@example.com", role="admin")
    for _ in range(3):
        await client.get("/health")
    await client.get("/realtime/ohlc/005930", headers=admin)
    resp = await client.get("/metrics", headers=admin)
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    text = await resp.text()
    assert 'autotrader_http_requests_total{method="GET",route="/health",status="200"} 3.0' in text
    assert 'route="/realtime/ohlc/{stock_code}"' in text  # the template, never the raw path
    assert 'autotrader_actors{kind="FeedHub"} 1.0' in text
    for name in ("autotrader_mailbox_depth", "autotrader_actor_restarts_total", "autotrader_feeds",
                 "autotrader_websocket_clients", 'autotrader_event_loop_lag_seconds{stat="p99"}', "autotrader_broker_errors_total", "autotrader_mailbox_conflated_total"):
        assert name in text


async def test_orders_by_status_reach_the_metrics(client, clock, make_user):
    from tests.web.orders_env import order, register

    _, admin = await make_user("boss@example.com", role="admin")
    await register(client, admin)
    status, _ = await order(client, clock, admin, {"stock_code": "005930", "order_type": "buy", "quantity": 1})
    assert status == 201
    text = await (await client.get("/metrics", headers=admin)).text()
    assert 'autotrader_orders{status="filled"} 1.0' in text
