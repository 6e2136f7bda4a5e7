"""The dashboard's flow in Chromium: register, sign in, watch 005930 move, trade, swing, backtest, operate."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, shot, sign_in, user_with_account

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
