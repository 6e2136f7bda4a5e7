import json
import logging

from engine.runtime import ActorSystem
from tests.engine.runtime.helpers import Boom, Counter, Get
from web import logs


def test_json_lines_carry_request_user_and_actor(capsys):
    formatter = logs.JsonFormatter()
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    token = logs.request_id.set("req-1")
    try:
        logs.ContextFilter().filter(record)
    finally:
        logs.request_id.reset(token)
    doc = json.loads(formatter.format(record))
    assert doc["message"] == "hello world" and doc["request_id"] == "req-1"
    assert doc["actor"] == "-" and doc["level"] == "INFO"


async def test_an_actors_log_lines_name_its_path(caplog):
    system = ActorSystem()
    caplog.handler.addFilter(logs.ContextFilter())
    ref = system.spawn("/c", Counter)
    ref.tell(Boom())
    await ref.ask(Get(), 1)  # barrier: the crash was handled and logged
    crash = [r for r in caplog.records if "crashed" in r.getMessage()]
    assert crash and crash[0].actor == "/c"
    await system.shutdown(1)
