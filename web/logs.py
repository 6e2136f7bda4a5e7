"""Logging set-up: plain or JSON lines, with the request id, user id and actor path.

The ids travel in context variables set by the request middleware (and by
actors for their path), so every log line of a request carries them without
being passed around.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time

from engine.runtime import current_actor

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
user_id: contextvars.ContextVar[str] = contextvars.ContextVar("user_id", default="-")


_EMAIL = re.compile(r"[^\s@'\"<>(),;:]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_BCRYPT = re.compile(r"\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}")


def redact(text: str) -> str:
    """``text`` with emails and bcrypt hashes replaced: no log line carries either, at any level."""
    if "@" in text:
        text = _EMAIL.sub("<email>", text)
    if "$2" in text:
        text = _BCRYPT.sub("<password-hash>", text)
    return text


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned is not message and cleaned != message:
            record.msg, record.args = cleaned, None
        record.request_id = request_id.get()
        record.user_id = user_id.get()
        record.actor = current_actor.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
            "user_id": getattr(record, "user_id", "-"),
            "actor": getattr(record, "actor", "-"),
        }
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


def configure(level: str = "INFO", as_json: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    if as_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s %(levelname)s %(name)s [%(request_id)s u=%(user_id)s %(actor)s] %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("aiosqlite").setLevel(logging.INFO)  # its DEBUG lines print every statement's arguments
