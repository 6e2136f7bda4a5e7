"""``POST /users/register``, ``/users/login``, ``/users/logout`` and ``/users/password``.

Login throttling is described in :mod:`web.throttle` (and the README); the
email is normalised once, here, and everything (lookup, throttle keys) uses
that form. Logout and a password change bump the user's token version, so
every token issued before them is refused (:mod:`web.auth`).
"""

from __future__ import annotations

import re

from aiohttp import web

from storage import EmailTaken, HasherBusy, UserRepo, normalize_email, password_problem
from web.auth import issue_token, require_user, revoked
from web.bodies import read, respond
from web.errors import ConflictError, Invalid, TooManyRequests, Unauthorized
from web.keys import HASHER, LOGIN_THROTTLE, REGISTER_LIMIT, SESSIONS, SETTINGS
from web.openapi import route
from web.schemas import Credentials, Message, PasswordChange, TokenBody
from web.throttle import Throttled

EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
BAD_LOGIN = "이메일 또는 비밀번호가 올바르지 않습니다"  # one body for unknown email and wrong password
BUSY = "too many password checks in progress; try again shortly"


def _check_email(email: str) -> str:
    email = normalize_email(email)
    if len(email) > 254 or not EMAIL.match(email):
        raise Invalid("invalid email address", fields={"email": "not a valid email address"})
    return email


def _address(request: web.Request) -> str:
    return request.remote or "-"


async def register(request: web.Request) -> web.Response:
    body = await read(request, Credentials)
    email = _check_email(body.email)
    problem = password_problem(body.password)
    if problem:
        raise Invalid("weak password", fields={"password": problem})
    try:
        request.app[REGISTER_LIMIT].take(_address(request))
        password_hash = await request.app[HASHER].hash(body.password)
    except Throttled as exc:
        raise TooManyRequests("too many registrations from this address; try again later",
                              retry_after_s=exc.retry_after_s) from None
    except HasherBusy:
        raise TooManyRequests(BUSY, retry_after_s=1.0) from None
    try:
        async with request.app[SESSIONS].begin() as session:
            await UserRepo(session).create(email, password_hash)
    except EmailTaken:
        raise ConflictError("email already registered", fields={"email": "already registered"},
                            code="email_taken") from None
    return respond(Message("회원가입 성공"), status=201)


async def _check_password(request: web.Request, email: str, password: str):  # type: ignore[no-untyped-def]
    """The user whose password this is (counted by the throttle when it starts), else 401/429."""
    throttle = request.app[LOGIN_THROTTLE]
    try:
        attempt = throttle.begin(email, _address(request))
    except Throttled as exc:
        raise TooManyRequests("too many failed logins; try again later", retry_after_s=exc.retry_after_s) from None
    async with request.app[SESSIONS]() as session:
        user = await UserRepo(session).get_by_email(email)
    try:
        ok = await request.app[HASHER].verify(password, user.password_hash if user else None)
    except HasherBusy:
        raise TooManyRequests(BUSY, retry_after_s=1.0) from None
    if user is None or not ok:
        raise Unauthorized(BAD_LOGIN, code="bad_credentials")
    throttle.succeeded(attempt)
    return user


def _token(request: web.Request, user_id: int, version: int) -> TokenBody:
    settings = request.app[SETTINGS]
    token = issue_token(user_id, settings.jwt_secret, settings.jwt_lifetime_s, version=version)
    return TokenBody(access_token=token, expires_in=settings.jwt_lifetime_s)


async def login(request: web.Request) -> web.Response:
    body = await read(request, Credentials)
    user = await _check_password(request, normalize_email(body.email), body.password)
    return respond(_token(request, user.id, user.token_version))


async def logout(request: web.Request) -> web.Response:
    user_id = require_user(request)
    async with request.app[SESSIONS].begin() as session:
        version = await UserRepo(session).bump_token_version(user_id)
    await revoked(request.app, user_id, version)
    return respond(Message("로그아웃: every token issued so far is revoked"))


async def change_password(request: web.Request) -> web.Response:
    user_id = require_user(request)
    body = await read(request, PasswordChange)
    problem = password_problem(body.new_password)
    if problem:
        raise Invalid("weak password", fields={"new_password": problem})
    async with request.app[SESSIONS]() as session:
        me = await UserRepo(session).get(user_id)
    if me is None:
        raise Unauthorized("token revoked", code="token_revoked")
    user = await _check_password(request, me.email, body.old_password)
    try:
        password_hash = await request.app[HASHER].hash(body.new_password)
    except HasherBusy:
        raise TooManyRequests(BUSY, retry_after_s=1.0) from None
    async with request.app[SESSIONS].begin() as session:
        version = await UserRepo(session).bump_token_version(user.id, password_hash)
    await revoked(request.app, user.id, version)
    return respond(_token(request, user.id, version))


def add_routes(app: web.Application) -> None:
    route(app, "POST", "/users/register", register, summary="register a user", tag="users", auth=False,
          request=Credentials, responses={201: Message}, errors=(409, 429))
    route(app, "POST", "/users/login", login, summary="log in: a Bearer token", tag="users", auth=False,
          request=Credentials, responses={200: TokenBody}, errors=(401, 429))
    route(app, "POST", "/users/logout", logout, summary="log out: revoke every token issued so far",
          tag="users", responses={200: Message})
    route(app, "POST", "/users/password", change_password,
          summary="change the password (old one required): earlier tokens are revoked, a new one is returned",
          tag="users", request=PasswordChange, responses={200: TokenBody}, errors=(401, 422, 429))
