"""The dashboard's flow in Chromium: register, sign in, watch 005930 move, trade, swing, backtest, operate."""

from __future__ import annotations

import re

import msgspec
import pytest
from playwright.sync_api import expect

from storage import UserRepo
from tests.browser.helpers import PASSWORD, advance, rest, shot, sign_in, user_with_account
from tests.helpers import cli_run
from web.keys import SESSIONS, SYSTEM

pytestmark = pytest.mark.timeout(120)


def test_register_sign_in_and_watch_005930_move(page, server):
    page.goto(server.url + "/")
    expect(page.locator("#login-form")).to_be_visible()
    shot(page, "01-sign-in")
    reg = page.locator("#register-form")
    reg.get_by_label(re.compile("이메일")).fill("trader@example.com")
    reg.get_by_label(re.compile("비밀번호")).fill("short")
    reg.get_by_role("button").click()
    expect(reg.locator('[data-field="password"]')).to_have_class(re.compile("invalid"))  # the 422 names it
    reg.get_by_label(re.compile("비밀번호")).fill(PASSWORD)
    reg.get_by_role("button").click()
    expect(page.locator("#toast")).to_contain_text("가입되었습니다")
    login = page.locator("#login-form")
    expect(login.get_by_label(re.compile("이메일"))).to_have_value("trader@example.com")
    login.get_by_label(re.compile("비밀번호")).fill(PASSWORD)
    login.get_by_role("button").click()
    expect(page.locator("#logout")).to_be_visible()
    assert page.evaluate("() => window.localStorage.length") == 0  # the token is in sessionStorage only
    assert page.evaluate("() => sessionStorage.getItem('autotrader.token')").count(".") == 2

    page.goto(server.url + "/#/market?code=005930")
    chart = page.locator("#price-chart")
    expect(chart.locator("canvas").first).to_be_visible()
    expect(chart).to_have_attribute("data-bars", re.compile(r"^[1-9]\d*$"))  # history drawn
    expect(page.locator('#watch-table tr[data-code="005930"] td').first).to_have_text(re.compile(r"\d"))
    first = chart.get_attribute("data-last-trade-ts") or "0"
    page.wait_for_function(  # a live trade arrived and moved the last bar
        "(t) => Number(document.querySelector('#price-chart').dataset.lastTradeTs || 0) > Number(t)", arg=first)
    expect(page.locator("#order-book tbody tr.ask")).to_have_count(10)
    expect(page.locator("#order-book tbody tr.bid")).to_have_count(10)
    shot(page, "02-market")
    page.get_by_role("button", name="English").click()
    expect(page.locator("#watch-h")).to_have_text("Watch list")
    page.get_by_role("button", name="한국어").click()
    expect(page.locator("#watch-h")).to_have_text("관심 종목")

    token = page.evaluate("() => sessionStorage.getItem('autotrader.token')")
    page.get_by_role("button", name="로그아웃").click()
    expect(page.locator("#login-form")).to_be_visible()
    assert page.evaluate("() => sessionStorage.getItem('autotrader.token')") is None
    assert rest(server, "GET", "/accounts", token=token)[0] == 401  # the server revoked it too


def _ticket(page):  # type: ignore[no-untyped-def]
    page.goto(page.url.split("#")[0] + "#/trade?code=005930")
    ticket = page.locator("#order-ticket")
    expect(ticket).to_be_visible()
    expect(page.locator("#limits-line")).to_contain_text("상한가")  # today's limits are shown
    return ticket


def test_market_order_fills_and_the_position_appears(page, server):
    user_with_account(server, "buyer@example.com")
    sign_in(page, server, "buyer@example.com")
    ticket = _ticket(page)
    expect(page.locator("#orders-table + .empty")).to_be_visible()  # the empty state says what to do
    ticket.get_by_label(re.compile("수량")).fill("3")
    ticket.get_by_role("button", name="주문 보내기").click()
    row = page.locator("#orders-table tbody tr").first
    expect(row).to_have_attribute("data-status", "filled")
    expect(row).to_contain_text("▲ 매수")
    position = page.locator('#positions-table tr[data-code="005930"]')
    expect(position).to_be_visible()
    expect(position.locator("td").first).to_have_text("3")
    price = int(row.locator("td").nth(6).inner_text().replace(",", ""))
    # by hand: 3 shares at the fill price, commission 0.015 % rounded down to the won, no tax on a buy
    cash = 100_000_000 - 3 * price - 3 * price * 15 // 100_000
    expect(page.locator("#cash")).to_have_text(f"{cash:,}원")
    expect(position.locator("td").nth(1)).to_have_text(f"{price:,}")
    expect(row.locator("ul.fills li")).to_contain_text(f"3 @ {price:,}")
    shot(page, "03-trade")


def test_refused_limit_price_is_highlighted_and_a_limit_order_rests(page, server):
    user_with_account(server, "limits@example.com")
    sign_in(page, server, "limits@example.com")
    ticket = _ticket(page)
    ticket.locator("label.radio", has_text="지정가").click()
    upper = int(page.locator("#limits-line").inner_text().split("상한가")[1].split("·")[0].strip().replace(",", ""))
    price = ticket.get_by_label(re.compile("가격"))
    price.fill(str(upper * 2))
    ticket.get_by_role("button", name="주문 보내기").click()
    box = ticket.locator('[data-field="price"]')
    expect(box).to_have_class(re.compile("invalid"))
    expect(box.locator(".field-error")).to_contain_text("outside today's limits")
    expect(price).to_be_focused()
    shot(page, "04-trade-refused")
    lower = int(page.locator("#limits-line").inner_text().split("하한가")[1].split("·")[0].strip().replace(",", ""))
    price.fill(str(lower))
    ticket.get_by_role("button", name="주문 보내기").click()
    row = page.locator("#orders-table tbody tr").first
    expect(row).to_have_attribute("data-status", re.compile("accepted|pending"))
    expect(row.get_by_role("button", name="취소")).to_be_visible()
    expect(box).not_to_have_class(re.compile("invalid"))


def test_register_the_demo_swing_and_see_its_events(page, manual_server):
    server = manual_server
    user_with_account(server, "swinger@example.com")
    sign_in(page, server, "swinger@example.com")
    page.goto(server.url + "/#/swings")
    expect(page.locator("#swings-table + .empty")).to_be_visible()
    form = page.locator("#swing-form")
    form.get_by_role("button", name=re.compile("데모 값")).click()
    expect(form.get_by_label("bar_size")).to_have_value("1Min")
    form.get_by_role("button", name="등록", exact=True).click()
    row = page.locator("#swings-table tbody tr").first
    expect(row).to_contain_text("005380")
    expect(row.get_by_role("button", name="중지 후 청산")).to_be_visible()
    expect(page.locator("#swing-chart canvas").first).to_be_visible()
    expect(page.locator("#swing-events li")).to_have_count(0)  # nothing is checked before its bar closes
    # the first check comes just after the next minute boundary (second 2): the server's clock moves
    # there, its demo market trading on the way; the page polls the swing's events
    advance(server, 62)
    expect(page.locator("#swing-events li").first).to_be_visible()
    first = page.locator("#swing-events li").first
    expect(first.locator(".ev-reason")).not_to_be_empty()
    shot(page, "05-swings")
    row.get_by_role("button", name="중지", exact=True).click()
    expect(row.locator(".badge")).to_have_text("stopped")
    expect(page.locator('#swing-events li[data-kind="stopped"]')).to_have_count(1)


def test_backtest_runs_with_progress_and_draws_its_report(page, server):
    user_with_account(server, "quant@example.com")
    sign_in(page, server, "quant@example.com")
    page.goto(server.url + "/#/backtest")
    expect(page.locator("#bt-report .empty")).to_be_visible()
    form = page.locator("#bt-form")
    expect(form.locator("#bt-file option")).not_to_have_count(0)
    form.locator("#bt-file").select_option("krx_daily_005930.csv")
    form.get_by_label(re.compile("시작일")).fill("2015-01-01")
    form.get_by_role("button", name="실행").click()
    expect(page.locator("#bt-report")).to_have_attribute("data-done", "1", timeout=60_000)
    cli = cli_run("krx_daily_005930.csv", "2015-01-01").metrics  # the CLI's figures for the same run
    expect(page.locator("#bt-final")).to_have_text(f"{cli.final_equity:,}원")
    sign = "▲" if cli.total_return_pct > 0 else "▼" if cli.total_return_pct < 0 else "■"
    expect(page.locator("#bt-return")).to_have_text(f"{sign} {abs(cli.total_return_pct):.2f} %")
    expect(page.locator("#bt-trades")).to_contain_text("10")
    for chart in ("#bt-price-chart", "#bt-equity-chart", "#bt-dd-chart"):
        expect(page.locator(f"{chart} canvas").first).to_be_visible()
    expect(page.locator("#bt-trades-table tbody tr")).to_have_count(10)
    shot(page, "06-backtest")


class Poison(msgspec.Struct, frozen=True):
    """No actor handles this: it crashes whoever receives it."""


def test_admin_sees_the_actor_tree_and_a_restart_counter_move(page, server):
    user_with_account(server, "ops@example.com")

    async def promote(app):  # type: ignore[no-untyped-def]
        async with app[SESSIONS].begin() as session:
            return (await UserRepo(session).promote("ops@example.com")).id

    uid = server.call(promote)
    sign_in(page, server, "ops@example.com")
    expect(page.locator("#price-chart canvas").first).to_be_visible()  # the market page runs the feeds
    page.goto(server.url + "/#/admin")
    victim = f"/strategies/{uid}/basic"  # this tab's socket runs the basic strategy for the user
    row = page.locator(f'#actor-table tr[data-path="{victim}"]')
    expect(row).to_be_visible()
    expect(row.locator('td[data-col="restarts"]')).to_have_text("0")
    expect(page.locator("#m-clients")).not_to_have_text("0")
    expect(page.locator("#m-feeds")).not_to_have_text("0")

    async def crash(app):  # type: ignore[no-untyped-def]
        app[SYSTEM].ref(victim).tell(Poison())

    restarts = row.locator('td[data-col="restarts"]')
    server.call(crash)
    expect(restarts).to_have_text("1")
    expect(row).to_have_attribute("data-state", "running")
    expect(row).to_have_class(re.compile("restarted"))
    shot(page, "07-admin-restarted")
    for n in (2, 3):
        server.call(crash)
        expect(restarts).to_have_text(str(n))
        expect(row).to_have_attribute("data-state", "running")
    server.call(crash)  # the budget (3 restarts) is spent: stopped for good, and it stands out
    expect(row).to_have_attribute("data-state", "faulted")
    expect(row).to_have_class(re.compile("faulted"))
    expect(row.locator(".badge")).to_have_text("◆ faulted")
    expect(page.locator("#m-faulted")).to_have_text("1")
    page.locator("#faulted-only").check()
    expect(page.locator("#actor-table tbody tr")).to_have_count(1)
    expect(page.locator("#actor-table tbody tr")).to_have_attribute("data-path", victim)
    page.locator("#faulted-only").uncheck()
    page.locator("#actor-filter").fill("/strategies/")
    expect(page.locator("#actor-table tbody tr")).not_to_have_count(0)
    for path in page.locator("#actor-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.path)"):
        assert path.startswith("/strategies")
    shot(page, "07-admin")


def test_a_user_is_told_the_admin_page_is_for_admins(page, server):
    user_with_account(server, "nosy@example.com")
    sign_in(page, server, "nosy@example.com")
    page.goto(server.url + "/#/admin")
    expect(page.locator("#admin-forbidden")).to_be_visible()


PHONE = {"width": 390, "height": 844}


@pytest.mark.parametrize("page", [PHONE], indirect=True, ids=["phone"])
def test_every_page_fits_a_phone_and_keeps_its_meaning_without_colour(page, server):
    user_with_account(server, "phone@example.com")
    sign_in(page, server, "phone@example.com")
    for name, ready in (("market", "#price-chart canvas"), ("trade", "#order-ticket"), ("swings", "#swing-form"),
                        ("backtest", "#bt-form"), ("risk", "#risk-state"), ("admin", "#admin-forbidden")):
        page.goto(f"{server.url}/#/{name}")
        expect(page.locator(ready).first).to_be_visible()
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{name} is {overflow}px wider than a phone"
        shot(page, f"phone-{name}")
    page.goto(f"{server.url}/#/market")
    change = page.locator('#watch-table tr[data-code="005930"] td').nth(1)
    expect(change).to_have_text(re.compile(r"^[▲▼■] "))  # the sign, not only the colour


def test_keyboard_reaches_the_pages_and_picks_a_code(page, server):
    user_with_account(server, "keys@example.com")
    sign_in(page, server, "keys@example.com")
    page.goto(server.url + "/#/market")
    page.reload()  # focus starts at the top of the document
    expect(page.locator("#price-chart canvas").first).to_be_visible()
    focused = []
    for _ in range(8):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("() => document.activeElement.textContent.trim()"))
    assert "본문으로 건너뛰기 / Skip to content" in focused and "주문·잔고" in focused
    page.locator('#watch-table tr[data-code="000660"]').focus()
    page.keyboard.press("Enter")
    expect(page.locator("#chart-title")).to_have_text("000660 차트")
    expect(page.locator('#watch-table tr[data-code="000660"]')).to_have_class(re.compile("selected"))


def test_risk_halt_and_resume_in_one_click(page, server):
    user_with_account(server, "risky@example.com")
    sign_in(page, server, "risky@example.com")
    page.goto(server.url + "/#/risk")
    expect(page.locator("#risk-state")).to_contain_text("거래 가능")
    expect(page.locator('[data-limit="max_order_value"]')).to_have_text("50,000,000원")
    page.locator("#halt-reason").fill("점심 시간")
    page.locator("#halt").click()
    expect(page.locator("#risk-state")).to_contain_text("거래 정지 중 (본인이 정지) — 점심 시간")
    expect(page.locator("#resume")).to_be_focused()
    shot(page, "08-risk")
    page.goto(server.url + "/#/trade?code=005930")
    page.locator("#order-ticket").get_by_role("button", name="주문 보내기").click()
    expect(page.locator("#order-ticket .form-error")).to_contain_text("account_halted")
    page.goto(server.url + "/#/risk")
    page.locator("#resume").click()
    expect(page.locator("#risk-state")).to_contain_text("거래 가능")


def test_the_risk_page_says_who_halted_and_an_admins_halt_stays(page, server):
    owner = user_with_account(server, "halted@example.com")
    account_id = rest(server, "GET", "/accounts", token=owner)[1]["accounts"][0]["account_id"]
    user_with_account(server, "desk@example.com")

    async def promote(app):  # type: ignore[no-untyped-def]
        async with app[SESSIONS].begin() as session:
            await UserRepo(session).promote("desk@example.com")

    server.call(promote)
    admin = rest(server, "POST", "/users/login", {"email": "desk@example.com", "password": PASSWORD})[1]["access_token"]
    sign_in(page, server, "halted@example.com")
    page.goto(server.url + "/#/risk")
    page.locator("#halt-reason").fill("점검")
    page.locator("#halt").click()
    state = page.locator("#risk-state")
    expect(state).to_have_text("■ 거래 정지 중 (본인이 정지) — 점검")
    expect(state).to_have_attribute("data-halted-by", "owner")
    expect(page.locator("#admin-halt-note")).to_have_count(0)
    page.locator("#resume").click()
    expect(state).to_contain_text("거래 가능")
    assert rest(server, "POST", f"/accounts/{account_id}/halt", {"reason": "감사"}, admin)[0] == 200
    page.reload()
    expect(state).to_have_text("■ 거래 정지 중 (관리자가 정지) — 감사")
    expect(state).to_have_attribute("data-halted-by", "admin")
    expect(page.locator("#admin-halt-note")).to_be_visible()
    shot(page, "08-risk-admin-halt")
    page.locator("#resume").click()  # the owner may not lift it: the server says why, the page keeps the halt
    expect(page.locator("#toast")).to_contain_text("admin_halt")
    expect(state).to_have_attribute("data-halted-by", "admin")
    assert rest(server, "POST", f"/accounts/{account_id}/resume", {}, admin)[0] == 200


def test_docs_render_the_openapi_document_with_try_it(page, server):
    page.goto(server.url + "/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Auto-Trader")
    op = page.locator("#operations-backtest-post_backtests")
    expect(op).to_be_visible()
    op.locator(".opblock-summary").click()
    expect(op.get_by_role("button", name="Cancel")).to_be_visible()  # try-it is on: the editor is open
    expect(page.locator(".swagger-ui .btn.authorize")).to_be_visible()
    shot(page, "09-docs")


def test_a_resting_limit_order_is_modified_then_cancelled_from_the_table(page, server):
    token = user_with_account(server, "cancel@example.com")
    sign_in(page, server, "cancel@example.com")
    ticket = _ticket(page)
    ticket.locator("label.radio", has_text="지정가").click()
    lower = int(page.locator("#limits-line").inner_text().split("하한가")[1].split("·")[0].strip().replace(",", ""))
    ticket.get_by_label(re.compile("가격")).fill(str(lower))
    ticket.get_by_label(re.compile("수량")).fill("5")
    ticket.get_by_role("button", name="주문 보내기").click()
    first = page.locator("#orders-table tbody tr").first
    expect(first).to_have_attribute("data-status", "accepted")
    order_id = first.get_attribute("data-order-id")
    row = page.locator(f'#orders-table tr[data-order-id="{order_id}"]')
    row.get_by_role("button", name="정정").click()
    form = page.locator("#orders-table tr.modify-row form")
    tick = 50 if lower >= 20_000 else 10
    form.get_by_label(re.compile("가격")).fill(str(lower + tick))
    form.get_by_label(re.compile("수량")).fill("4")
    # another order's events repaint the table meanwhile: the form and what was typed stay
    status, other = rest(server, "POST", "/stocks/order", {"stock_code": "005930", "order_type": "buy",
                                                          "quantity": 1, "price": lower}, token)
    assert status == 201, other
    expect(page.locator(f'#orders-table tr[data-order-id="{other["order_id"]}"]')).to_have_count(1)
    expect(form.get_by_label(re.compile("수량"))).to_have_value("4")
    form.get_by_role("button", name="정정 보내기").click()
    expect(row.locator("td").nth(3)).to_have_text(f"지정가 {lower + tick:,}")  # the `modified` event repainted it
    expect(row.locator("td").nth(4)).to_have_text("4")
    shot(page, "04b-trade-modified")
    row.get_by_role("button", name="취소").click()
    expect(row).to_have_attribute("data-status", "cancelled")
    expect(row.locator(".badge")).to_have_text("취소됨")
    expect(row.get_by_role("button", name="취소")).to_have_count(0)
