"""The simulator's REST side rejects what KIS rejects, with KIS's bodies."""

import aiohttp

from engine.brokers.kis.simulator import SimulatorConfig
from engine.runtime.clock import ManualClock

QUOTES = "/uapi/domestic-stock/v1/quotations"
NOON_KST_20250613 = 1_749_783_600_000  # 2025-06-13 12:00:00 KST


async def _token(http, url, key="app1", secret="sec1"):
    async with http.post(f"{url}/oauth2/tokenP", json={"grant_type": "client_credentials", "appkey": key, "appsecret": secret}) as r:
        return r.status, await r.json()


def _headers(token, tr_id="FHKST01010100", key="app1", secret="sec1"):
    return {"authorization": f"Bearer {token}", "appkey": key, "appsecret": secret, "tr_id": tr_id, "custtype": "P"}


async def test_token_once_a_minute_then_egw00133(start_simulator):
    async with start_simulator(SimulatorConfig()) as s, aiohttp.ClientSession() as http:
        status, body = await _token(http, s.url)
        assert status == 200 and body["token_type"] == "Bearer" and body["expires_in"] == 86400
        assert len(body["access_token_token_expired"]) == 19
        status, body = await _token(http, s.url)
        assert status == 403 and body["error_code"] == "EGW00133" and "1분당 1회" in body["error_description"]
        status, _ = await _token(http, s.url, key="app2", secret="sec2")  # the limit is per app key
        assert status == 200


async def test_approval_needs_secretkey_not_appsecret(start_simulator):
    async with start_simulator(SimulatorConfig()) as s, aiohttp.ClientSession() as http:
        async with http.post(f"{s.url}/oauth2/Approval", json={"grant_type": "client_credentials", "appkey": "a", "appsecret": "b"}) as r:
            assert r.status == 403 and (await r.json())["error_code"] == "EGW00105"
        async with http.post(f"{s.url}/oauth2/Approval", json={"grant_type": "client_credentials", "appkey": "a", "secretkey": "b"}) as r:
            assert r.status == 200 and len((await r.json())["approval_key"]) == 36


async def test_header_checks(start_simulator):
    async with start_simulator(SimulatorConfig()) as s, aiohttp.ClientSession() as http:
        _, body = await _token(http, s.url)
        token = body["access_token"]
        url = f"{s.url}{QUOTES}/inquire-price"
        params = {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": "005930"}
        cases = [
            (_headers("nope"), "EGW00121"),
            ({**_headers(token), "authorization": token}, "EGW00205"),
            (_headers(token, key="other"), "EGW00103"),
            (_headers(token, secret="wrong"), "EGW00105"),
            (_headers(token, tr_id="XXXX0000"), "OPSQ0002"),
        ]
        for headers, code in cases:
            async with http.get(url, params=params, headers=headers) as r:
                body = await r.json()
                assert (r.status, body["rt_cd"], body["msg_cd"]) == (500, "1", code), headers
        async with http.get(url, params=params, headers=_headers(token)) as r:
            body = await r.json()
            assert r.status == 200 and body["rt_cd"] == "0" and int(body["output"]["stck_prpr"]) > 0


async def test_wrong_mode_tr_id(start_simulator):
    async def order_route(sim, request, tr_id):
        raise AssertionError("not reached")

    for paper, tr_id in ((False, "VTTC0012U"), (True, "TTTC0012U")):
        async with start_simulator(SimulatorConfig(paper=paper)) as s, aiohttp.ClientSession() as http:
            s.sim.add_route("POST", "/uapi/domestic-stock/v1/trading/order-cash", frozenset({"TTTC0012U"}), order_route)
            _, body = await _token(http, s.url)
            async with http.post(f"{s.url}/uapi/domestic-stock/v1/trading/order-cash", json={}, headers=_headers(body["access_token"], tr_id=tr_id)) as r:
                assert (r.status, (await r.json())["msg_cd"]) == (500, "EGW00213")


async def test_rest_rate_limit_egw00201(start_simulator):
    async with start_simulator(SimulatorConfig(rest_rate_per_s=3)) as s, aiohttp.ClientSession() as http:
        _, body = await _token(http, s.url)
        url = f"{s.url}{QUOTES}/inquire-price"
        params = {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": "005930"}
        answers = []
        for _ in range(5):
            async with http.get(url, params=params, headers=_headers(body["access_token"])) as r:
                answers.append((r.status, (await r.json())["msg_cd"]))
        assert answers[:3] == [(200, "MCA00000")] * 3
        assert answers[3] == (500, "EGW00201")


async def test_minute_chart_30_rows_newest_first(start_simulator):
    clock = ManualClock(start_ms=NOON_KST_20250613)
    async with start_simulator(SimulatorConfig(), clock) as s, aiohttp.ClientSession() as http:
        _, body = await _token(http, s.url)
        params = {"FID_ETC_CLS_CODE": "", "FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": "005930",
                  "FID_INPUT_HOUR_1": "235900", "FID_PW_DATA_INCU_YN": "N"}
        async with http.get(f"{s.url}{QUOTES}/inquire-time-itemchartprice", params=params,
                            headers=_headers(body["access_token"], tr_id="FHKST03010200")) as r:
            rows = (await r.json())["output2"]
        hours = [row["stck_cntg_hour"] for row in rows]
        assert len(rows) == 30 and hours[0] == "120000" and hours[-1] == "113100"  # future -> now
        for row in rows:
            assert int(row["stck_lwpr"]) <= min(int(row["stck_oprc"]), int(row["stck_prpr"]))
            assert int(row["stck_hgpr"]) >= max(int(row["stck_oprc"]), int(row["stck_prpr"]))


async def test_unknown_path_is_404(start_simulator):
    async with start_simulator(SimulatorConfig()) as s, aiohttp.ClientSession() as http:
        async with http.get(f"{s.url}/nope") as r:
            assert r.status == 404 and (await r.json())["rt_cd"] == "1"


async def test_search_info_hashkey_revoke_and_lenient_requests(start_simulator):
    async with start_simulator(SimulatorConfig()) as s, aiohttp.ClientSession() as http:
        _, issued = await _token(http, s.url)
        token = issued["access_token"]
        url = f"{s.url}//uapi/domestic-stock/v1/quotations/search-info"  # a doubled slash is tolerated
        async with http.get(url, headers=_headers(token, "CTPF1604R"),
                            params={"pdno": "005930", "prdt_type_cd": "300"}) as resp:  # lower-case names
            body = await resp.json()
        assert body["rt_cd"] == "0" and body["output"]["shtn_pdno"] == "005930"
        market = body["output"]["mket_id_cd"]
        assert market in ("STK", "KSQ") and market == ("KSQ" if s.sim.market.is_kosdaq("005930") else "STK")
        order = {"CANO": "50123456", "ACNT_PRDT_CD": "01", "PDNO": "005930"}
        async with http.post(f"{s.url}/uapi/hashkey", json=order,
                             headers={"appkey": "app1", "appsecret": "sec1"}) as resp:
            first = (await resp.json())["HASH"]
        async with http.post(f"{s.url}/uapi/hashkey", json=order,
                             headers={"appkey": "app1", "appsecret": "sec1"}) as resp:
            assert (await resp.json())["HASH"] == first and len(first) == 64
        async with http.post(f"{s.url}/oauth2/revokeP",
                             json={"appkey": "app1", "appsecret": "sec1", "token": token}) as resp:
            assert resp.status == 200 and (await resp.json())["code"] == "200"
        async with http.get(f"{s.url}/uapi/domestic-stock/v1/quotations/inquire-price", headers=_headers(token),
                            params={"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": "005930"}) as resp:
            assert (await resp.json())["msg_cd"] == "EGW00121"  # the revoked token no longer works
