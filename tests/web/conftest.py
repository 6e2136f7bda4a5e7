"""Web fixtures: the real app on this leg's database, driven with aiohttp_client."""

from __future__ import annotations

import msgspec
import pytest

from engine.runtime import ManualClock
from engine.settings import Settings
from storage import UserRepo
from web.app import create_app
from web.auth import issue_token


@pytest.fixture
def app_settings(db_settings: Settings) -> Settings:
    return msgspec.structs.replace(db_settings, login_lockout_s=60.0, shutdown_deadline_s=2.0)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def client(aiohttp_client, app_settings, engine, clock):  # engine: tables emptied first
    app = create_app(app_settings, clock=clock)
    return await aiohttp_client(app)


@pytest.fixture
def make_user(session_factory, app_settings):
    """Create a user directly in the database and return (id, bearer headers)."""

    async def make(email: str = "user@example.com", role: str = "user") -> tuple[int, dict[str, str]]:
        async with session_factory.begin() as session:
            user = await UserRepo(session).create(email, "not-a-real-hash", role=role)  # type: ignore[arg-type]
        token = issue_token(user.id, app_settings.jwt_secret, app_settings.jwt_lifetime_s)
        return user.id, {"Authorization": f"Bearer {token}"}

    return make
