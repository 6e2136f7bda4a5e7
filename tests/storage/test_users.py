"""UserRepo on both databases: create, unique email, lookups, roles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from storage.errors import EmailTaken, NotFound
from storage.users import User, UserRepo


async def test_create_and_read_back(session_factory) -> None:
    before = datetime.now(UTC)
    async with session_factory.begin() as session:
        created = await UserRepo(session).create("  Kim@Example.COM ", "$2b$04$hash")
    async with session_factory() as session:
        by_id = await UserRepo(session).get(created.id)
        by_email = await UserRepo(session).get_by_email("kim@example.com")
    assert isinstance(created, User)
    assert by_id == by_email
    assert by_id.email == "kim@example.com"
    assert by_id.role == "user"
    assert by_id.password_hash == "$2b$04$hash"
    assert by_id.created_at.tzinfo is UTC
    assert before - timedelta(seconds=1) <= by_id.created_at <= datetime.now(UTC) + timedelta(seconds=1)


async def test_missing_user_is_none(session_factory) -> None:
    async with session_factory() as session:
        assert await UserRepo(session).get(10**9) is None
        assert await UserRepo(session).get_by_email("nobody@example.com") is None


async def test_taken_email_raises_and_keeps_the_first(session_factory) -> None:
    async with session_factory.begin() as session:
        await UserRepo(session).create("lee@example.com", "first")
    with pytest.raises(EmailTaken):
        async with session_factory.begin() as session:
            await UserRepo(session).create("LEE@example.com", "second")
    async with session_factory() as session:
        assert (await UserRepo(session).get_by_email("lee@example.com")).password_hash == "first"


async def test_promote_and_set_role(session_factory) -> None:
    async with session_factory.begin() as session:
        await UserRepo(session).create("park@example.com", "h")
    async with session_factory.begin() as session:
        promoted = await UserRepo(session).promote("Park@example.com")
    assert promoted.role == "admin"
    async with session_factory() as session:
        assert (await UserRepo(session).get_by_email("park@example.com")).role == "admin"
    async with session_factory.begin() as session:
        assert (await UserRepo(session).set_role("park@example.com", "user")).role == "user"


async def test_promote_unknown_email_is_not_found(session_factory) -> None:
    with pytest.raises(NotFound, match="no user with that email"):
        async with session_factory.begin() as session:
            await UserRepo(session).promote("ghost@example.com")


def test_repr_hides_the_password_hash() -> None:
    user = User(id=1, email="a@b.c", role="user", created_at=datetime.now(UTC), password_hash="$2b$secret")
    assert "secret" not in repr(user) and "secret" not in str(user)
