"""Where accounts go: a new (or orphaned) account to the least-loaded live node, existing
accounts never moved for balance (no thrash when a node joins), and the heartbeat sweep reads
the database only when the cluster's picture changes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from actors.cluster_accounts import AccountOwnership
from engine.cluster.node import least_loaded, rendezvous
from storage import UserRepo
from tests.cluster.helpers import drop_buckets, node_settings
from tests.web.orders_env import PAPER, register
from web.app import create_app
from web.auth import issue_token
from web.keys import CLUSTER, SESSIONS, SETTINGS

pytestmark = pytest.mark.timeout(120)


class _Registry:
    """What ``place`` reads of a node: its id and the registry's loads (owned accounts per node)."""

    def __init__(self, loads: dict[str, int]) -> None:
        self.node_id = "a"
        self.ttl_s = 3.0
        self.registry = loads
        self.peers_read = 0
        self.leases = SimpleNamespace(on_lost=None, held={})

    def loads(self) -> dict[str, int]:
        return dict(self.registry)


def test_a_new_account_goes_to_the_least_loaded_node_and_equals_go_by_hash():
    assert least_loaded("account.1", {}) is None
    assert least_loaded("account.1", {"a": 3, "b": 1, "c": 2}) == "b"
    tied = {"a": 2, "b": 2, "c": 5}
    assert least_loaded("account.7", tied) == rendezvous("account.7", ["a", "b"])  # the hash among the lightest

    async def none() -> set[int]:
        return set()

    registry = _Registry({"a": 5, "b": 0, "c": 2})
    owner = AccountOwnership(registry, claim=None, swings_of=None, needed=none)  # type: ignore[arg-type]
    placed = [owner.place(account_id) for account_id in range(100, 108)]
    # between two reads of the registry the node counts what it sent: b fills up from 0 to 5, c from 2 to 5,
    # a (already at 5) gets none of the 8
    assert placed.count("b") == 5 and placed.count("c") == 3 and "a" not in placed
    ninth = owner.place(108)  # all three at 5 now: the hash decides
    assert ninth == rendezvous("account.108", ["a", "b", "c"])
    registry.registry, registry.peers_read = {"a": 5, "b": 5, "c": 6}, 1  # a fresh read replaces the counts
    assert owner.place(109) == rendezvous("account.109", ["a", "b"])


async def _user(client, email: str):
    async with client.app[SESSIONS].begin() as session:
        made = await UserRepo(session).create(email, "not-a-real-hash")
    s = client.app[SETTINGS]
    return {"Authorization": f"Bearer {issue_token(made.id, s.jwt_secret, s.jwt_lifetime_s)}"}


async def _fresh(*clients) -> None:
    """Every node announces its load and reads the registry now (what one heartbeat does)."""
    for client in clients:
        await client.app[CLUSTER].node.announce()
    for client in clients:
        await client.app[CLUSTER].node.refresh_peers()


def _owner(clients, account_id: int) -> str:
    (owner,) = [c.app[CLUSTER].node.node_id for c in clients if account_id in c.app[CLUSTER].accounts.owned()]
    return owner


async def test_accounts_spread_over_the_nodes_and_a_joining_node_takes_only_new_ones(
        aiohttp_client, mariadb_url, tmp_path, prefix):
    def app(node_id: str):
        return create_app(node_settings(mariadb_url, tmp_path, prefix, node_id, market_data="sim"))

    a, b = await aiohttp_client(app("a")), await aiohttp_client(app("b"))
    try:
        await _fresh(a, b)
        headers = await _user(a, "spread@example.com")
        first, second = [await register(a, headers, {**PAPER, "account_number": f"5012345{i}-01"}) for i in (6, 7)]
        for account_id in (first, second):  # both asked through a, each placed on the lighter node then
            resp = await a.get(f"/accounts/balance?account_id={account_id}", headers=headers)
            assert resp.status == 200, await resp.text()
            await _fresh(a, b)
        assert {_owner((a, b), first), _owner((a, b), second)} == {"a", "b"}  # one each
        tokens = {i: next(c for c in (a, b) if i in c.app[CLUSTER].accounts.owned()).app[CLUSTER].accounts.token(i)
                  for i in (first, second)}
        c = await aiohttp_client(app("c"))  # a third node joins, owning nothing
        await _fresh(a, b, c)
        for client in (a, b, c):
            for _ in range(2):  # an orphan would be taken on its second sighting: there is none
                await client.app[CLUSTER].accounts.sweep()
        for i in (first, second):  # nothing moved to the new node: no handover for balance alone
            owner = next(x for x in (a, b) if i in x.app[CLUSTER].accounts.owned())
            assert owner.app[CLUSTER].accounts.token(i) == tokens[i]
        assert c.app[CLUSTER].accounts.owned() == []
        third = await register(a, headers, {**PAPER, "account_number": "50123458-01"})
        resp = await b.get(f"/accounts/balance?account_id={third}", headers=headers)
        assert resp.status == 200, await resp.text()
        assert _owner((a, b, c), third) == "c"  # the least-loaded node gets the new account
        await c.close()
    finally:
        await a.close()
        await b.close()
        await drop_buckets(prefix)


async def test_the_sweep_reads_the_database_only_when_the_picture_changes(
        aiohttp_client, mariadb_url, tmp_path, prefix):
    a = await aiohttp_client(create_app(node_settings(mariadb_url, tmp_path, prefix, "a", market_data="sim")))
    try:
        await _fresh(a)
        accounts = a.app[CLUSTER].accounts
        accounts.reread_s = 3600.0  # the safety-net re-read (every three TTLs) is not what this test is about
        headers = await _user(a, "sweep@example.com")
        account_id = await register(a, headers, PAPER)
        assert (await a.get("/accounts/balance", headers=headers)).status == 200  # a owns it now
        await accounts.sweep()
        reads = accounts.needed_reads
        for _ in range(3):  # nothing changed: the lease keys come from the KV, no database read
            await accounts.sweep()
        assert accounts.needed_reads == reads
        await a.app[CLUSTER].node.leases.kv.delete(f"account.{account_id}")  # a lease vanished
        await accounts.sweep()
        assert accounts.needed_reads == reads + 1
        await accounts.sweep()
        assert accounts.needed_reads == reads + 1  # quiet again (the account needed nobody: no orphan)
    finally:
        await a.close()
        await drop_buckets(prefix)
