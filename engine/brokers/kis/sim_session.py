"""One WebSocket session of the KIS simulator (KIS_PROTOCOL.md §3).

The session learns its app key from the approval key in the first subscription
message; a second live session of the same app key gets ``OPSP8996`` and is
closed. Subscriptions are acknowledged with KIS's codes and capped; subscribed
codes get H0STCNT0/H0STASP0 frames, sometimes several records per frame; a
PINGPONG goes out every interval, and a client that does not echo it in time is
disconnected.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import string
import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from engine.brokers.kis.auth import key_fingerprint
from engine.brokers.kis.frames import NOTICE_TRS, QUOTE_TRS, TRADE_TRS

if TYPE_CHECKING:
    from engine.brokers.kis.simulator import KisSimulator

log = logging.getLogger(__name__)

KST = timezone(timedelta(hours=9))
MARKET_TRS = TRADE_TRS | QUOTE_TRS  # KRX, NXT and 통합 (UN) feeds
FOREIGN_NOTICE_TRS = frozenset({"H0GSCNI0", "H0GSCNI9"})  # overseas fill notices: accepted, never sent here
_ALNUM = string.ascii_lowercase


def _random_text(n: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


class SimSession:
    def __init__(self, sim: KisSimulator, ws: web.WebSocketResponse) -> None:
        self.sim = sim
        self.ws = ws
        self.app_key: str | None = None
        self.subs: dict[tuple[str, str], tuple[str, str]] = {}  # (tr_id, tr_key) -> (key, iv)
        self._ping_sent_at: float | None = None
        self.frames_sent = 0
        self.pong_frames = 0
        self.subscribe_times: list[float] = []  # time.monotonic() of each tr_type "1" message (pacing tests)
        self._tape: dict[tuple[str, str], tuple[str, int, int] | None] = {}  # (tr_id, code) -> last step sent
        self._held: dict[tuple[str, str], tuple[int, list[str]]] = {}  # trades held for a multi-record frame

    async def run(self) -> None:
        tasks = [asyncio.create_task(self._send_loop()), asyncio.create_task(self._ping_loop())]
        try:
            async for msg in self.ws:
                if msg.type == WSMsgType.TEXT:
                    await self._on_text(msg.data)
                elif msg.type == WSMsgType.PING:
                    await self.ws.pong(msg.data)
                elif msg.type == WSMsgType.PONG:  # the official samples answer PINGPONG with ws.pong(raw)
                    self._ping_sent_at = None
                    self.pong_frames += 1
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.sim.end_session(self)

    async def close(self, reason: str) -> None:
        log.info("kis-sim: closing session of %s: %s", key_fingerprint(self.app_key or ""), reason)
        await self.ws.close(message=reason.encode())

    async def send_text(self, text: str) -> None:
        if not self.ws.closed:
            await self.ws.send_str(text)

    # -- client messages ------------------------------------------------------------

    async def _on_text(self, text: str) -> None:
        try:
            msg = json.loads(text)
            header = msg["header"]
        except (ValueError, KeyError, TypeError):
            await self._reply("", "", "9", "OPSP0007", "JSON PARSING ERROR : invalid json format")
            return
        if not isinstance(header, dict):
            await self._reply("", "", "9", "OPSP0007", "JSON PARSING ERROR : invalid header")
            return
        if header.get("tr_id") == "PINGPONG":
            self._ping_sent_at = None
            return
        body = msg.get("body") if isinstance(msg.get("body"), dict) else {}
        inp = body.get("input") if isinstance(body.get("input"), dict) else {}
        tr_id, tr_key = str(inp.get("tr_id", "")), str(inp.get("tr_key", ""))
        app_key = self.sim.approvals.get(str(header.get("approval_key", "")))
        if app_key is None:
            await self._reply(tr_id, tr_key, "1", "OPSP0011", "invalid approval : NOT FOUND")
            return
        if self.app_key is None:
            if not self.sim.bind_session(app_key, self):
                await self._reply(tr_id, tr_key, "1", "OPSP8996", "ALREADY IN USE appkey")
                await self.close("ALREADY IN USE appkey")
                return
        elif app_key != self.app_key:
            await self._reply(tr_id, tr_key, "1", "OPSP8996", "ALREADY IN USE appkey")
            return
        if not header.get("custtype"):
            await self._reply(tr_id, tr_key, "1", "OPSP9997", "custtype not found")
            return
        if tr_id not in MARKET_TRS and tr_id not in NOTICE_TRS and tr_id not in FOREIGN_NOTICE_TRS:
            await self._reply(tr_id, tr_key, "1", "OPSP8991", "invalid tr_id")
            return
        if not self._valid_key(tr_id, tr_key):
            await self._reply(tr_id, tr_key, "1", "OPSP8992", "invalid tr_key")
            return
        tr_type = str(header.get("tr_type", ""))
        if tr_type == "1":
            self.subscribe_times.append(time.monotonic())
            await self._subscribe(tr_id, tr_key)
        elif tr_type == "2":
            await self._unsubscribe(tr_id, tr_key)
        else:
            await self._reply(tr_id, tr_key, "1", "OPSP8993", "invalid tr_type")

    def _valid_key(self, tr_id: str, tr_key: str) -> bool:
        if tr_id in NOTICE_TRS or tr_id in FOREIGN_NOTICE_TRS:
            return bool(tr_key)
        codes = self.sim.config.codes
        return len(tr_key) == 6 and tr_key.isalnum() and (not codes or tr_key in codes)

    async def _subscribe(self, tr_id: str, tr_key: str) -> None:
        if (tr_id, tr_key) in self.subs:
            await self._reply(tr_id, tr_key, "0", "OPSP0002", "ALREADY IN SUBSCRIBE")
            return
        if len(self.subs) >= self.sim.config.max_subscriptions:
            await self._reply(tr_id, tr_key, "1", "OPSP0008", "MAX SUBSCRIBE OVER")
            return
        aes = (_random_text(32), _random_text(16))
        self.subs[(tr_id, tr_key)] = aes
        output = {"iv": aes[1], "key": aes[0]}
        encrypt = "Y" if tr_id in NOTICE_TRS else "N"
        await self._reply(tr_id, tr_key, "0", "OPSP0000", "SUBSCRIBE SUCCESS", output, encrypt)

    async def _unsubscribe(self, tr_id: str, tr_key: str) -> None:
        if self.subs.pop((tr_id, tr_key), None) is None:
            await self._reply(tr_id, tr_key, "1", "OPSP0003", "UNSUBSCRIBE ERROR(not found!)")
            return
        await self._reply(tr_id, tr_key, "0", "OPSP0001", "UNSUBSCRIBE SUCCESS")

    async def _reply(
        self,
        tr_id: str,
        tr_key: str,
        rt_cd: str,
        msg_cd: str,
        msg1: str,
        output: dict[str, str] | None = None,
        encrypt: str = "N",
    ) -> None:
        body: dict[str, Any] = {"rt_cd": rt_cd, "msg_cd": msg_cd, "msg1": msg1}
        if output is not None:
            body["output"] = output
        header = {"tr_id": tr_id, "tr_key": tr_key, "encrypt": encrypt}
        await self.send_text(json.dumps({"header": header, "body": body}))

    # -- server pushes -----------------------------------------------------------------

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.sim.clock.now_ms() / 1000, KST)

    async def _send_loop(self) -> None:
        cfg = self.sim.config
        rng = self.sim.rng
        market = self.sim.market
        while True:
            await asyncio.sleep(1.0 / cfg.rate)
            if self.sim.stalled:
                continue
            now = self._now()
            for tr_id, code in list(self.subs):
                if tr_id not in MARKET_TRS:
                    continue  # fill notices are pushed by the order endpoints
                count = rng.randint(2, 4) if rng.random() < cfg.batch_prob else 1
                if tr_id in TRADE_TRS:  # the walk's trades since the last frame (KRX, NXT and UN alike)
                    key = (tr_id, code)
                    fresh, self._tape[key] = market.trade_records(code, now, cfg.trade_fields,
                                                                  self._tape.get(key), count)
                    target, held = self._held.pop(key, (count, []))
                    records = held + fresh
                    if len(records) < target and market.in_session(now):  # KIS batches trades: wait for more
                        self._held[key] = (target, records)
                        continue
                else:
                    records = [market.quote_record(code, now, cfg.quote_fields) for _ in range(count)]
                if not records:
                    continue
                await self.send_text(f"0|{tr_id}|{len(records):03d}|{'^'.join(records)}")
                self.frames_sent += 1

    async def _ping_loop(self) -> None:
        cfg = self.sim.config
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(cfg.pingpong_interval_s, cfg.pingpong_timeout_s / 2))
            if self.sim.stalled:
                continue
            now = loop.time()
            if self._ping_sent_at is not None:
                if now - self._ping_sent_at > cfg.pingpong_timeout_s:
                    await self.close("PINGPONG not answered")
                    return
                continue
            stamp = self._now().strftime("%Y%m%d%H%M%S")
            await self.send_text(json.dumps({"header": {"tr_id": "PINGPONG", "datetime": stamp}}))
            self._ping_sent_at = now
