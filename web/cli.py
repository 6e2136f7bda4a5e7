"""The ``autotrader`` command. Each subcommand is a small function that
delegates to the package owning the work.

Start-up stays fast (``autotrader --help`` imports no pandas, scipy or
benchmarks): a subcommand whose options live in a heavy module
(``kis-sim``, ``backtest``, ``loadtest``) gets them only when it is the one
being run; the others are listed by name and help line.
"""

from __future__ import annotations

import argparse
import logging
import sys

from engine.settings import Settings, SettingsError, load_settings

log = logging.getLogger("autotrader")


def _run(coro):  # type: ignore[no-untyped-def]
    import asyncio  # not at import time: `autotrader --help` stays fast

    return asyncio.run(coro)


def _settings(**overrides: object) -> Settings:
    from engine.settings import unknown_names

    for warning in unknown_names():
        print(f"autotrader: warning: {warning}", file=sys.stderr)
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        print(f"autotrader: bad setting: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_serve(args: argparse.Namespace) -> int:
    from web import logs
    from web.server import serve

    settings = _settings(host=args.host, port=args.port, lease_wait=True if args.wait else None)
    logs.configure(settings.log_level, settings.log_json)
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # not on this platform: the default loop works too
        runner = _run
    if bool(args.certfile) != bool(args.keyfile):
        print("autotrader: --certfile and --keyfile go together", file=sys.stderr)
        return 2
    return runner(serve(settings, certfile=args.certfile, keyfile=args.keyfile))


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

    _run(run())
    return 0


async def _with_database(work) -> object:  # type: ignore[no-untyped-def]
    """Run ``work(settings, session_factory)`` on a migrated database."""
    from storage import create_engine, create_session_factory, ensure_keys, upgrade

    settings = ensure_keys(_settings())
    engine = create_engine(settings)
    try:
        await upgrade(engine)
        return await work(settings, create_session_factory(engine))
    finally:
        await engine.dispose()


def cmd_users_promote(args: argparse.Namespace) -> int:
    from storage import NotFound, UserRepo

    async def work(settings, sessions):  # type: ignore[no-untyped-def]
        async with sessions.begin() as session:
            return await UserRepo(session).promote(args.email)

    try:
        user = _run(_with_database(work))
    except NotFound:
        print(f"autotrader: no user with email {args.email}", file=sys.stderr)
        return 1
    print(f"{user.email} is now an admin")
    return 0


def cmd_keys_check(args: argparse.Namespace) -> int:
    """Every account row and stored KIS token, and the key that opens it; exit 1 if an account row does not."""
    import time

    from storage import check_keys, check_tokens

    async def work(settings, sessions):  # type: ignore[no-untyped-def]
        return (await check_keys(sessions, settings.data_keys, settings.hash_key),
                await check_tokens(sessions, settings.data_keys))

    rows, tokens = _run(_with_database(work))
    for row in rows:
        print(row.describe())
    bad = sum(not row.ok for row in rows)
    print(f"{len(rows)} account rows: {len(rows) - bad} open under the configured keys, {bad} do not")
    now_ms = int(time.time() * 1000)
    for token in tokens:
        print(token.describe(now_ms))
    closed = sum(token.key is None for token in tokens)
    print(f"{len(tokens)} stored KIS tokens: {len(tokens) - closed} open under the configured keys, {closed} do not"
          + (" (each costs a new token at its next use)" if closed else ""))
    return 1 if bad else 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    """Re-encrypt under the first data key, and keep keys.json (the plain start's keys) in step."""
    import msgspec
    from cryptography.fernet import Fernet

    from storage import (
        Crypto,
        ensure_keys,
        rotate_keys,
        rotate_tokens,
        rows_not_under,
        stored_data_keys,
        tokens_not_under,
        write_data_keys,
    )
    from storage.keys import validate_data_keys

    given = _settings()
    settings = ensure_keys(given)
    keys = validate_data_keys(settings.data_keys)
    from_env = bool(given.data_keys)
    if args.generate:
        if from_env:
            print("autotrader: the data keys come from AUTOTRADER_DATA_KEYS: put a new key first there "
                  "(keep the old ones after it) and run `autotrader keys rotate` without --generate", file=sys.stderr)
            return 2
        keys = [Fernet.generate_key().decode("ascii"), *keys]
    settings = msgspec.structs.replace(settings, data_keys=",".join(keys))

    async def work(_settings, sessions):  # type: ignore[no-untyped-def]
        stale = await rows_not_under(sessions, keys[0])
        stale_tokens = await tokens_not_under(sessions, settings.data_keys)
        if stale == 0 and stale_tokens == 0 and not args.generate:
            return None
        file_keys = stored_data_keys(settings)
        if (not from_env or file_keys) and file_keys != settings.data_keys:
            # before any row moves: a crash half-way leaves a file that opens both old and new rows
            path = write_data_keys(settings, settings.data_keys)
            print(f"wrote the data keys ({len(keys)}, the first encrypts) into {path}")
        crypto = Crypto.from_settings(settings)
        return await rotate_keys(sessions, crypto), stale, await rotate_tokens(sessions, crypto)

    result = _run(_with_database(work))
    if result is None:
        print("autotrader: nothing to rotate: every account row and stored KIS token is already encrypted under the first data key; "
              "put a new key first in AUTOTRADER_DATA_KEYS, or run `autotrader keys rotate --generate`",
              file=sys.stderr)
        return 1
    count, stale, (tokens, unreadable) = result
    print(f"re-encrypted {count} account rows with the first data key ({stale} were under an older key)")
    print(f"re-encrypted {tokens} stored KIS tokens with the first data key"
          + (f"; {unreadable} open under no configured key and were left (each costs a new token)"
             if unreadable else ""))
    if from_env:
        print("the keys came from AUTOTRADER_DATA_KEYS: keep the new key first there for every later start")
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    from engine.strategy import backtest
    from web import logs

    logs.configure("WARNING")  # stderr only: with --json, stdout holds the document alone
    return backtest.run(args)


def cmd_kis_sim(args: argparse.Namespace) -> int:
    from engine.brokers.kis import simulator
    from web import logs

    logs.configure("INFO")
    return simulator.run(args)


def cmd_loadtest(args: argparse.Namespace) -> int:
    from benchmarks import loadtest
    from web import logs

    logs.configure("WARNING")  # stderr only: with --json -, stdout holds the document alone
    return loadtest.run(args)


def _add_simulator_arguments(parser: argparse.ArgumentParser) -> None:
    from engine.brokers.kis import simulator

    simulator.add_arguments(parser)


def _add_backtest_arguments(parser: argparse.ArgumentParser) -> None:
    from engine.strategy import backtest

    backtest.add_arguments(parser)


def _add_loadtest_arguments(parser: argparse.ArgumentParser) -> None:
    from benchmarks import loadtest

    loadtest.add_arguments(parser)


def _command_named(argv: list[str]) -> str | None:
    """The subcommand in ``argv`` (the top level takes no option with a value before it)."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv``, only the subcommand named there loads its heavy options."""
    wanted = _command_named(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="autotrader", description="Auto-Trader: automated trading for KRX stocks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the HTTP/WebSocket server (embedded defaults: SQLite, paper broker, simulated market)")
    serve.add_argument("--host", default=None, help="address to bind (default 127.0.0.1 or AUTOTRADER_HOST)")
    serve.add_argument("--port", type=int, default=None, help="port (0 = a free port; default 8080 or AUTOTRADER_PORT)")
    serve.add_argument("--certfile", default=None, help="PEM certificate (chain): serve HTTPS and WSS")
    serve.add_argument("--keyfile", default=None, help="PEM private key of --certfile")
    serve.add_argument("--wait", action="store_true",
                       help="if another server holds this database's lease, wait for it instead of refusing")
    serve.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    upgrade = db_sub.add_parser("upgrade", help="apply the migrations (to head by default)")
    upgrade.add_argument("revision", nargs="?", default="head")
    upgrade.set_defaults(func=cmd_db_upgrade)

    users = sub.add_parser("users", help="user administration")
    users_sub = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    promote = users_sub.add_parser("promote", help="make a registered user an admin")
    promote.add_argument("email")
    promote.set_defaults(func=cmd_users_promote)

    keys = sub.add_parser("keys", help="encryption keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    rotate = keys_sub.add_parser(
        "rotate",
        help="re-encrypt every stored secret with the first of AUTOTRADER_DATA_KEYS "
        "(put the new key first, keep the old ones after it until this has run)",
    )
    rotate.add_argument("--generate", action="store_true",
                        help="generate a new first key into keys.json (when the keys live there) and rotate to it")
    rotate.set_defaults(func=cmd_keys_rotate)
    check = keys_sub.add_parser("check", help="say which stored account rows decrypt under which configured key")
    check.set_defaults(func=cmd_keys_check)

    heavy = (
        ("kis-sim", "run the local KIS Open API simulator (REST and WebSocket on one port)",
         _add_simulator_arguments, cmd_kis_sim),
        ("backtest", "run the swing rules over a CSV of bars (fills at the next bar's open)",
         _add_backtest_arguments, cmd_backtest),
        ("loadtest", "load the server with simulated trades and WebSocket clients; report rates, latency, CPU, memory",
         _add_loadtest_arguments, cmd_loadtest),
    )
    for name, summary, add_arguments, func in heavy:
        command = sub.add_parser(name, help=summary)
        if name == wanted:
            add_arguments(command)
        command.set_defaults(func=func)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser(argv).parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
