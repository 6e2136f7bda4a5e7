"""A filesystem fault on SQLite's -shm file (here: truncated under the running server) kills the
process with SIGBUS; it must leave a line in the log saying so, with the stacks."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
import requests

from tests.integration.helpers import AUTOTRADER, ROOT, server_env


@pytest.mark.timeout(90)
async def test_a_truncated_shm_file_is_logged_before_the_process_dies(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **server_env(tmp_path)}
    proc = await asyncio.create_subprocess_exec(
        *AUTOTRADER, "serve", "--host", "127.0.0.1", "--port", "0", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        url = line.split()[-1]
        body = {"email": "kim@example.com", "password": "s3cret-pass"}
        loop = asyncio.get_running_loop()
        resp = await loop.run_in_executor(None, lambda: requests.post(f"{url}/users/register", json=body, timeout=10))
        assert resp.status_code == 201
        os.truncate(tmp_path / "data" / "autotrader.db-shm", 0)

        def poke() -> None:
            try:
                requests.post(f"{url}/users/login", json=body, timeout=10)
            except requests.RequestException:
                pass

        await loop.run_in_executor(None, poke)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == -signal.SIGBUS
    text = err.decode()
    assert "Fatal Python error: Bus error" in text
    assert "sqlite" in text.lower()  # the stack shows where: the database thread
