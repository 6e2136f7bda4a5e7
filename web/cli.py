"""The ``autotrader`` command. Each subcommand is a small function that
delegates to the package owning the work."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from engine.settings import Settings, SettingsError, load_settings

log = logging.getLogger("autotrader")


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        print(f"autotrader: bad setting: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_serve(args: argparse.Namespace) -> int:
    from web import logs
    from web.server import serve

    settings = _settings(host=args.host, port=args.port)
    logs.configure(settings.log_level, settings.log_json)
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # not on this platform: the default loop works too
        runner = asyncio.run
    return runner(serve(settings, certfile=getattr(args, "certfile", None), keyfile=getattr(args, "keyfile", None)))


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from storage import create_engine, describe, ensure_keys, upgrade

    settings = ensure_keys(_settings())

    async def run() -> None:
        engine = create_engine(settings)
        try:
            await upgrade(engine, args.revision)
            print(f"database at {args.revision}: {describe(engine)}")
        finally:
            await engine.dispose()

    asyncio.run(run())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autotrader", description="Auto-Trader: automated trading for KRX stocks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the HTTP/WebSocket server (embedded defaults: SQLite, paper broker, simulated market)")
    serve.add_argument("--host", default=None, help="address to bind (default 127.0.0.1 or AUTOTRADER_HOST)")
    serve.add_argument("--port", type=int, default=None, help="port (0 = a free port; default 8080 or AUTOTRADER_PORT)")
    serve.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    upgrade = db_sub.add_parser("upgrade", help="apply the migrations (to head by default)")
    upgrade.add_argument("revision", nargs="?", default="head")
    upgrade.set_defaults(func=cmd_db_upgrade)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
