"""``POST /accounts/register`` and ``GET /accounts``: the caller's broker accounts.

Secrets are encrypted by the repository before they reach the database;
responses only ever show masked values (last 4 characters).

A KIS account is checked with KIS before it is stored (:meth:`KisKeyring.check`:
the app key's token — its one issuance a minute, shared with everything else on
that key — and one balance page for the account number): KIS's refusal is 422
``bad_credentials`` naming KIS's code and message; KIS not answering (or its token
minute used up) is 503 ``broker_unavailable`` with ``Retry-After``. ``hts_id`` is
optional: with it the account hears its fills at once (H0STCNI0/H0STCNI9); without
it, fills are found by reconciliation with ``inquire-daily-ccld``.
"""

from __future__ import annotations

import re

from aiohttp import web

from engine.market.krx import KST
from storage import Account, AccountExists, AccountRepo, normalize_account_number
from web.auth import require_user
from web.bodies import read, respond
from web.errors import ConflictError, Invalid, Unavailable
from web.keys import CRYPTO, SESSIONS, SETTINGS
from web.openapi import route
from web.schemas import AccountCreated, AccountList, AccountRegistration, AccountView
from web.trading import KIS_BROKERS, keyring

ACCOUNT_NUMBER = re.compile(r"^[0-9]{8}-?[0-9]{2}$")  # ASCII: \d takes ٠ and ５ too
HTS_ID = re.compile(r"^[A-Za-z0-9_]{1,16}$")
MAX_KEY_CHARS = 512


def _validate(body: AccountRegistration) -> None:
    fields: dict[str, str] = {}
    if not ACCOUNT_NUMBER.match(body.account_number):
        fields["account_number"] = "expected 8 digits, an optional dash, and 2 digits (12345678-01)"
    for name in ("api_key", "secret_key"):
        value = getattr(body, name)
        if not value.strip():
            fields[name] = "required"
        elif len(value) > MAX_KEY_CHARS or any(c.isspace() for c in value):
            fields[name] = f"at most {MAX_KEY_CHARS} characters, no spaces"
    if body.hts_id is not None and not HTS_ID.match(body.hts_id):
        fields["hts_id"] = "1 to 16 letters, digits or underscores"
    if body.broker == "paper" and body.paper_trading:
        fields["paper_trading"] = "only for kis accounts (KIS 모의투자)"
    if fields:
        raise Invalid("invalid account", fields=fields)


async def _check_kis(request: web.Request, body: AccountRegistration) -> None:
    if KIS_BROKERS in request.app:  # a test's own broker factory stands in for KIS
        return
    from engine.brokers.kis import KisApiError, KisError
    from engine.brokers.kis.transport import TOKEN_TOO_SOON

    ring = keyring(request.app)
    retry_s = 60.0
    try:
        await ring.check(body.api_key, body.secret_key, body.paper_trading,
                         normalize_account_number(body.account_number))
    except KisApiError as exc:
        if exc.code == TOKEN_TOO_SOON or exc.code == "EGW00201" or (exc.status >= 500 and not exc.code):
            raise Unavailable(f"KIS cannot check the credentials now: {exc.message}", code="broker_unavailable",
                              retry_after_s=retry_s) from None
        raise Invalid(f"KIS refused the credentials: {exc.code} {exc.message}".strip(), code="bad_credentials",
                      fields={"api_key": f"{exc.code} {exc.message}".strip()}) from None
    except KisError as exc:
        raise Unavailable(f"KIS cannot check the credentials now: {exc}", code="broker_unavailable",
                          retry_after_s=retry_s) from None


def view(account: Account) -> AccountView:
    return AccountView(
        account_id=account.id,
        broker=account.broker,
        paper_trading=account.paper_trading,
        account_number=account.account_number_mask,
        api_key=account.app_key_mask,
        hts_id=account.hts_id,
        cash_balance=account.cash_balance,
        created_at=account.created_at.astimezone(KST).isoformat(),
    )


async def register(request: web.Request) -> web.Response:
    user_id = require_user(request)
    body = await read(request, AccountRegistration)
    _validate(body)
    if body.broker == "kis":
        await _check_kis(request, body)
    limit = request.app[SETTINGS].max_accounts_per_user
    try:
        async with request.app[SESSIONS].begin() as session:
            if len(await AccountRepo(session, request.app[CRYPTO]).list_for_user(user_id)) >= limit:
                raise Invalid(f"at most {limit} accounts per user (AUTOTRADER_MAX_ACCOUNTS_PER_USER)",
                              code="max_accounts")
            account = await AccountRepo(session, request.app[CRYPTO]).create(
                user_id,
                broker=body.broker,
                account_number=body.account_number,
                app_key=body.api_key,
                app_secret=body.secret_key,
                paper_initial_cash=request.app[SETTINGS].paper_initial_cash,
                paper_trading=body.paper_trading,
                hts_id=body.hts_id,
            )
    except AccountExists:
        raise ConflictError("account already registered", fields={"account_number": "already registered"},
                            code="account_exists") from None
    return respond(AccountCreated(message="계좌 등록 성공", account_id=account.id), status=201)


async def list_accounts(request: web.Request) -> web.Response:
    user_id = require_user(request)
    async with request.app[SESSIONS]() as session:
        accounts = await AccountRepo(session, request.app[CRYPTO]).list_for_user(user_id)
    return respond(AccountList(accounts=[view(a) for a in accounts]))


def add_routes(app: web.Application) -> None:
    route(app, "POST", "/accounts/register", register, summary="register a broker account (secrets encrypted)",
          tag="accounts", request=AccountRegistration, responses={201: AccountCreated}, errors=(409, 503))
    route(app, "GET", "/accounts", list_accounts, summary="your accounts, masked, lowest id first",
          tag="accounts", responses={200: AccountList})
