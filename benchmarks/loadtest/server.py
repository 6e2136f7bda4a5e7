"""The server under load: started as a subprocess on 127.0.0.1, or a running one.

``ServerProcess`` runs ``autotrader serve --port 0`` (or any command that prints
``listening on http://HOST:PORT``) with its own temporary data directory and
settings, and stops it on exit (SIGTERM, then SIGKILL after a deadline).
``check_loopback`` refuses any URL that is not 127.0.0.1 / localhost / ::1: the
load generator never points at another machine. ``ProcStats`` reads CPU time and
memory of a process from ``/proc``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections import deque
from urllib.parse import urlsplit

import msgspec

log = logging.getLogger(__name__)

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def check_loopback(url: str) -> str:
    """``url`` without a trailing slash, if it names this machine; ValueError otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.hostname not in LOOPBACK:
        raise ValueError(f"{url!r}: only http(s) on 127.0.0.1, localhost or ::1 is allowed")
    return url.rstrip("/")


class ProcSample(msgspec.Struct, frozen=True):
    cpu_s: float  # user + system CPU seconds since the process started
    rss_kb: int
    hwm_kb: int  # peak RSS (VmHWM)


def proc_sample(pid: int) -> ProcSample:
    """CPU seconds and memory of ``pid`` (Linux ``/proc``)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14 and 15)
    rss = hwm = 0
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return ProcSample(cpu, rss, hwm)


def proc_sample_all(pids: list[int]) -> ProcSample:
    """The sum over ``pids`` (the nodes of a cluster run): CPU seconds and memory added up."""
    samples = [proc_sample(pid) for pid in pids]
    return ProcSample(sum(s.cpu_s for s in samples), sum(s.rss_kb for s in samples),
                      sum(s.hwm_kb for s in samples))


def nats_server_pid() -> int:
    """The local nats-server's pid (its CPU is part of a cluster run's cost), or 0."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm", encoding="ascii") as f:
                    if f.read().strip() == "nats-server":
                        return int(entry)
            except OSError:
                continue
    return 0


def server_env(data_dir: str, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOTRADER_")}
    env.update({
        "AUTOTRADER_DATA_DIR": data_dir,
        "AUTOTRADER_LOG_LEVEL": "WARNING",
        "AUTOTRADER_MARKET_DATA": "sim",
    })
    env.update(extra)
    return env


class ServerProcess:
    """A server subprocess with its own data directory; an async context manager."""

    def __init__(self, settings: dict[str, str] | None = None, command: list[str] | None = None) -> None:
        self.data_dir = tempfile.mkdtemp(prefix="autotrader-load-")
        self.env = server_env(self.data_dir, settings or {})
        self.command = command or [sys.executable, "-m", "web.cli", "serve", "--port", "0"]
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""
        self.stderr_tail: deque[str] = deque(maxlen=40)  # the server's last log lines
        self._stderr: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def __aenter__(self) -> ServerProcess:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.command, env=self.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # Ctrl-C reaches us alone; we stop it in order
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._stderr = asyncio.create_task(self._drain(self.proc.stderr))
        async with asyncio.timeout(START_TIMEOUT_S):
            while True:
                line = await self.proc.stdout.readline()
                if not line:
                    await asyncio.wait_for(self.proc.wait(), STOP_TIMEOUT_S)
                    await asyncio.sleep(0.1)  # let the drain take the last lines
                    raise RuntimeError("server exited before listening: " + "\n".join(self.stderr_tail))
                text = line.decode(errors="replace").strip()
                if text.startswith("listening on "):
                    self.url = check_loopback(text.removeprefix("listening on "))
                    return

    async def _drain(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.stderr_tail.append(line.decode(errors="replace").rstrip())

    async def promote(self, email: str) -> None:
        """``autotrader users promote EMAIL`` on the server's own database."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "web.cli", "users", "promote", email, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), START_TIMEOUT_S)
        if proc.returncode != 0:
            raise RuntimeError(f"promote {email} failed: {err.decode(errors='replace')}")

    async def stop(self) -> None:
        proc = self.proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                log.warning("server %d did not stop in %.0f s: killed", proc.pid, STOP_TIMEOUT_S)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self._stderr is not None:
            self._stderr.cancel()
            await asyncio.gather(self._stderr, return_exceptions=True)
        shutil.rmtree(self.data_dir, ignore_errors=True)
