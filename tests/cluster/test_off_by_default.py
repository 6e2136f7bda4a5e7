"""Without AUTOTRADER_CLUSTER_NATS_URL the server is one process that never loads NATS;
with it, SQLite is refused with a message that says what to do."""

from __future__ import annotations

import subprocess
import sys

import pytest

from engine.settings import Settings, SettingsError, load_settings
from tests.integration.helpers import ROOT

pytestmark = pytest.mark.timeout(60)

NO_NATS = """
import asyncio, sys
from aiohttp import web
from engine.settings import Settings
from web.app import create_app

async def main():
    app = create_app(Settings(data_dir=sys.argv[1], bcrypt_cost=4, shutdown_deadline_s=1.0))
    runner = web.AppRunner(app)
    await runner.setup()  # the whole start-up: database, actors, swings
    loaded = sorted(m for m in sys.modules if m == "nats" or m.startswith("nats."))
    await runner.cleanup()
    print("loaded:", loaded)

asyncio.run(main())
"""


def test_a_single_process_never_imports_nats(tmp_path):
    out = subprocess.run([sys.executable, "-c", NO_NATS, str(tmp_path / "data")], cwd=ROOT, capture_output=True,
                         text=True, timeout=50)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "loaded: []"


def test_cluster_mode_on_sqlite_is_refused():
    with pytest.raises(SettingsError, match="SQLite") as info:
        load_settings({"AUTOTRADER_CLUSTER_NATS_URL": "nats://127.0.0.1:4222"})
    assert "mysql+aiomysql://" in str(info.value)
    load_settings({"AUTOTRADER_CLUSTER_NATS_URL": "nats://127.0.0.1:4222",
                   "AUTOTRADER_DATABASE_URL": "mysql+aiomysql://root@127.0.0.1:3306/x"})  # accepted


def test_the_command_says_why_it_will_not_start(tmp_path):
    out = subprocess.run([sys.executable, "-m", "web.cli", "serve"], cwd=ROOT, capture_output=True, text=True,
                         timeout=50, env={"PATH": "/usr/bin:/bin", "AUTOTRADER_DATA_DIR": str(tmp_path),
                                          "AUTOTRADER_CLUSTER_NATS_URL": "nats://127.0.0.1:4222"})
    assert out.returncode == 2
    assert "every node of a cluster must use the same MySQL/MariaDB database" in out.stderr


def test_create_app_refuses_it_too(tmp_path):
    from web.app import create_app

    with pytest.raises(SettingsError, match="SQLite"):
        create_app(Settings(data_dir=str(tmp_path), cluster_nats_url="nats://127.0.0.1:4222"))


@pytest.mark.parametrize("name, value", [("AUTOTRADER_NODE_ID", "node.1"), ("AUTOTRADER_CLUSTER_PREFIX", "a b"),
                                         ("AUTOTRADER_CLUSTER_LEASE_TTL_S", "0.5")])
def test_bad_cluster_settings_are_named(name, value):
    with pytest.raises(SettingsError, match=name):
        load_settings({"AUTOTRADER_CLUSTER_NATS_URL": "nats://127.0.0.1:4222",
                       "AUTOTRADER_DATABASE_URL": "mysql+aiomysql://root@127.0.0.1:3306/x", name: value})


def test_the_default_node_id_is_a_subject_token():
    import re

    from engine.cluster.node import default_node_id

    assert re.fullmatch(r"[A-Za-z0-9_-]+-\d+", default_node_id())
