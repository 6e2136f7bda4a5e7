"""``python -m tests.integration.fault_server STEP serve ...``: the real `autotrader` command with a
fault hook that SIGKILLs the process at ``STEP`` (``journal``, ``send``, ``fill``, ``swing_intent``).

The hook is injected here, from the tests, through ``app[ORDER_FAULT]``: the production code path
has no setting or branch that could kill the process."""

from __future__ import annotations

import logging
import os
import signal
import sys

import web.server
from web.cli import main
from web.trading import ORDER_FAULT

log = logging.getLogger("fault_server")


def _killer(step: str):  # type: ignore[no-untyped-def]
    def fault(name: str) -> None:
        if name == step:
            log.warning("fault hook: killing the process at %s", step)
            os.kill(os.getpid(), signal.SIGKILL)

    return fault


def run(argv: list[str]) -> int:
    step, args = argv[0], argv[1:]
    create_app = web.server.create_app

    def create_app_with_fault(settings, **kwargs):  # type: ignore[no-untyped-def]
        app = create_app(settings, **kwargs)
        app[ORDER_FAULT] = _killer(step)
        return app

    web.server.create_app = create_app_with_fault
    return main(args)


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
