"""Two real servers on one database: the second refuses naming the holder, or waits with --wait
and takes over when the first stops; a SIGKILLed server's lease does not block its restart."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest

from tests.integration.helpers import AUTOTRADER, ROOT, server_env, start, start_server


@pytest.mark.timeout(120)
async def test_a_second_server_refuses_then_waits_then_takes_over(db_url, tmp_path):
    env = server_env(tmp_path, database_url=db_url)
    first = await start_server(env)
    try:
        second = await asyncio.create_subprocess_exec(
            *AUTOTRADER, "serve", "--host", "127.0.0.1", "--port", "0", cwd=ROOT,
            env={**os.environ, **env}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(second.communicate(), 60)
        assert second.returncode == 2
        text = err.decode()
        assert "refusing to start" in text and "lease" in text and "held by" in text and "Traceback" not in text
        assert "listening" not in out.decode()
        waiting = asyncio.create_task(start(["serve", "--host", "127.0.0.1", "--port", "0", "--wait"],
                                            {**env, "AUTOTRADER_LEASE_TTL_S": "3"}, r"listening on (http://\S+)"))
        done, _ = await asyncio.wait({waiting}, timeout=3)
        assert not done  # still waiting while the first one runs
    finally:
        assert await first.terminate() == 0
    third = await asyncio.wait_for(waiting, 60)
    await third.terminate()


@pytest.mark.timeout(120)
async def test_a_killed_servers_lease_does_not_block_its_restart(db_url, tmp_path):
    env = server_env(tmp_path, database_url=db_url)
    first = await start_server(env)
    first.proc.send_signal(signal.SIGKILL)
    await first.proc.wait()
    again = await start_server(env)  # same host, its pid is gone: taken over at once
    await again.terminate()


assert sys.platform != "win32"
