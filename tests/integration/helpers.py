"""Helpers of the integration tests: run the real `autotrader` processes on 127.0.0.1 and talk to
them over sockets, and seed their database as a crash leaves it. Test modules import from here (never
from conftest or each other)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

AUTOTRADER = [sys.executable, "-m", "web.cli"]
ROOT = Path(__file__).resolve().parents[2]


class Proc:
    def __init__(self, proc: asyncio.subprocess.Process, url: str, lines: list[str],
                 drain: asyncio.Task[None] | None = None) -> None:
        self.proc = proc
        self.url = url
        self.lines = lines  # everything it printed on stdout so far
        self.drain = drain  # the task that keeps reading stdout (ends with the process)

    async def terminate(self, timeout: float = 15.0) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise


async def start(args: list[str], env: dict[str, str], pattern: str, timeout: float = 60.0,
                command: list[str] = AUTOTRADER) -> Proc:
    """Start ``autotrader ARGS`` and wait for the stdout line matching ``pattern`` (group 1 = URL)."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **env}
    proc = await asyncio.create_subprocess_exec(
        *command, *args, cwd=ROOT, env=full_env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )
    lines: list[str] = []
    regex = re.compile(pattern)

    async def wait_for_line() -> str:
        assert proc.stdout is not None
        while True:
            raw = await proc.stdout.readline()
            if not raw:
                raise RuntimeError(f"autotrader {' '.join(args)} exited: {lines}")
            line = raw.decode().rstrip()
            lines.append(line)
            match = regex.search(line)
            if match:
                return match.group(1)

    url = await asyncio.wait_for(wait_for_line(), timeout)

    async def drain() -> None:
        assert proc.stdout is not None
        while raw := await proc.stdout.readline():
            lines.append(raw.decode().rstrip())

    return Proc(proc, url, lines, asyncio.get_running_loop().create_task(drain()))


def server_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "AUTOTRADER_DATA_DIR": str(tmp_path / "data"),
        "AUTOTRADER_BCRYPT_COST": "4",
        "AUTOTRADER_LOG_LEVEL": "WARNING",
        **{f"AUTOTRADER_{k.upper()}": v for k, v in extra.items()},
    }


async def start_server(env: dict[str, str], kill_at: str | None = None) -> Proc:
    """The server; with ``kill_at``, one that SIGKILLs itself at that step (tests/integration/fault_server.py)."""
    command = AUTOTRADER if kill_at is None else [sys.executable, "-m", "tests.integration.fault_server", kill_at]
    return await start(["serve", "--host", "127.0.0.1", "--port", "0"], env, r"listening on (http://\S+)",
                       command=command)


# the swing both SIGKILL tests register (1-minute bars, quick to decide)
SWING_PARAMS = {"stock_code": "005930", "unit_amount": 1_000_000, "bar_size": "1Min", "short_term": 1,
          "medium_term": 3, "long_term": 5, "rsi_threshold": 1.0, "adx_threshold": 0.0, "obv_threshold": 0.0,
          "repeat": False, "stop_loss_pct": None}


async def seed_paper_account(session, settings, email: str, number: str) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """A user ``email`` (password ``s3cret-pass``) with a paper account of 100,000,000 KRW: (user id, account id)."""
    from storage import AccountRepo, Crypto, PasswordHasher, UserRepo

    user = await UserRepo(session).create(email, await PasswordHasher(4).hash("s3cret-pass"))
    account = await AccountRepo(session, Crypto.from_settings(settings)).create(
        user.id, broker="paper", account_number=number, app_key=f"k-{number[-1]}", app_secret=f"s-{number[-1]}",
        paper_initial_cash=100_000_000)
    return user.id, account.id


async def seed_swing_mid_buy(session, user_id: int, account_id: int) -> int:  # type: ignore[no-untyped-def]
    """A swing of ``SWING_PARAMS`` whose first-stage buy (7 shares at 100,000) was decided and written as its
    intent, the order not yet answered: what a SIGKILL mid-transition leaves. Returns its id."""
    import msgspec

    from engine.strategy.swing import SwingParams
    from engine.swings import Intent
    from storage import SwingRepo

    repo = SwingRepo(session)
    swing = await repo.create(user_id=user_id, account_id=account_id, stock_code="005930",
                              params=SwingParams(**SWING_PARAMS, account_id=account_id), status="active")
    await repo.save(swing.id, msgspec.structs.replace(
        swing.state(), order_seq=1, intent_order_id=f"swing-{swing.id}-1", intent=Intent(
            status="active", action="buy", quantity_rule="unit_amount", quantity=7, price=100_000,
            signal_before=0, signal_after=1, trigger="first_stage_buy", reason="seeded", bar_start_ms=0,
            indicators={})))
    return swing.id
