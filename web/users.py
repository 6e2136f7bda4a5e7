"""``POST /users/register`` and ``POST /users/login``."""

from __future__ import annotations

import re

from aiohttp import web

from storage import EmailTaken, UserRepo, normalize_email, password_problem
from web.auth import issue_token
from web.bodies import read, respond
from web.errors import ConflictError, Invalid, TooManyRequests, Unauthorized
from web.keys import HASHER, LOGIN_THROTTLE, SESSIONS, SETTINGS
from web.openapi import route
from web.schemas import Credentials, Message, TokenBody

EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
BAD_LOGIN = "이메일 또는 비밀번호가 올바르지 않습니다"  # one body for unknown email and wrong password


def _check_email(email: str) -> str:
    email = normalize_email(email)
    if len(email) > 254 or not EMAIL.match(email):
        raise Invalid("invalid email address", fields={"email": "not a valid email address"})
    return email


async def register(request: web.Request) -> web.Response:
    body = await read(request, Credentials)
    email = _check_email(body.email)
    problem = password_problem(body.password)
    if problem:
        raise Invalid("weak password", fields={"password": problem})
    password_hash = await request.app[HASHER].hash(body.password)
    try:
        async with request.app[SESSIONS].begin() as session:
            await UserRepo(session).create(email, password_hash)
    except EmailTaken:
        raise ConflictError("email already registered", fields={"email": "already registered"},
                            code="email_taken") from None
    return respond(Message("회원가입 성공"), status=201)


async def login(request: web.Request) -> web.Response:
    body = await read(request, Credentials)
    email = normalize_email(body.email)
    throttle = request.app[LOGIN_THROTTLE]
    keys = (f"email:{email}", f"addr:{request.remote or '-'}")
    wait = throttle.retry_after(*keys)
    if wait > 0:
        raise TooManyRequests("too many failed logins; try again later", retry_after_s=wait)
    async with request.app[SESSIONS]() as session:
        user = await UserRepo(session).get_by_email(email)
    ok = await request.app[HASHER].verify(body.password, user.password_hash if user else None)
    if user is None or not ok:
        throttle.failed(*keys)
        raise Unauthorized(BAD_LOGIN, code="bad_credentials")
    throttle.succeeded(*keys)
    settings = request.app[SETTINGS]
    token = issue_token(user.id, settings.jwt_secret, settings.jwt_lifetime_s)
    return respond(TokenBody(access_token=token, expires_in=settings.jwt_lifetime_s))


def add_routes(app: web.Application) -> None:
    route(app, "POST", "/users/register", register, summary="register a user", tag="users", auth=False,
          request=Credentials, responses={201: Message}, errors=(409,))
    route(app, "POST", "/users/login", login, summary="log in: a Bearer token", tag="users", auth=False,
          request=Credentials, responses={200: TokenBody}, errors=(401, 429))
