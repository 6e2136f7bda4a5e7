"""The one typed settings object, read once at start-up and passed down.

Every field can be set with an environment variable ``AUTOTRADER_<FIELD>``
(upper case), or in a TOML file named by ``AUTOTRADER_CONFIG`` (keys are the
field names, lower case). The environment wins over the file. A bad value
raises :class:`SettingsError` naming the variable. The embedded default needs
no setting at all.

Secrets (``jwt_secret``, ``data_keys``, ``hash_key``, ``kis_app_secret``) are
never shown by ``repr``; :meth:`Settings.public` gives a loggable view.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

import msgspec

SECRET_FIELDS = frozenset({"jwt_secret", "data_keys", "hash_key", "kis_app_secret"})


class SettingsError(ValueError):
    """A setting has a bad value; the message names the variable."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    # -- process ----------------------------------------------------------
    data_dir: str = "./data"  # SQLite file and generated keys live here
    host: str = "127.0.0.1"
    port: int = 8080
    log_level: str = "INFO"
    log_json: bool = False
    # -- database ---------------------------------------------------------
    database_url: str = ""  # default: sqlite+aiosqlite:///<data_dir>/autotrader.db
    db_pool_recycle_s: int = 3600
    # -- market data ------------------------------------------------------
    market_data: Literal["sim", "replay", "kis"] = "sim"
    ignore_market_hours: bool | None = None  # default: true for sim, false otherwise
    sim_seed: int = 7
    sim_trades_per_s: float = 2.0  # per code
    sim_quotes_per_s: float = 1.0  # per code
    sim_phases: int = 1  # spread each period's ticks over this many slots (1: one burst per period)
    replay_csv: str = ""
    replay_code: str = ""  # default: the file's (its code column or name), else 005930
    replay_speed: str = "60"  # market seconds per wall second, or "max" (as fast as the engine keeps up)
    replay_start: str = ""  # YYYY-MM-DD: first day played (earlier bars are the warm-up history)
    replay_end: str = ""  # YYYY-MM-DD: last day played
    replay_paused: bool = False  # start paused (register swings first; POST /admin/replay/resume)
    feed_grace_s: float = 5.0  # a feed stops this long after its last subscriber
    feed_history_bars: int = 600  # per bar size, in memory
    calendar_cache_dir: str = ""  # where the KRX session table is cached; default $XDG_CACHE_HOME/autotrader
    # -- dashboard --------------------------------------------------------
    backtest_data_dir: str = ""  # CSVs the dashboard's backtest offers; default ../shared/data beside the repo
    # -- KIS --------------------------------------------------------------
    kis_rest_url: str = "https://openapi.koreainvestment.com:9443"
    kis_ws_url: str = "ws://ops.koreainvestment.com:21000"
    kis_paper_rest_url: str = "https://openapivts.koreainvestment.com:29443"
    kis_paper_ws_url: str = "ws://ops.koreainvestment.com:31000"
    kis_app_key: str = ""  # comma-separated for several market-data connections
    kis_app_secret: str = ""  # comma-separated, same order as kis_app_key
    kis_max_subscriptions: int = 40  # (tr_id, code) pairs per upstream connection
    kis_reconnect_base_s: float = 1.0
    kis_reconnect_max_s: float = 60.0
    kis_pingpong_timeout_s: float = 120.0
    kis_paper: bool = False  # market-data connection uses the paper (모의투자) URLs and REST limit
    kis_rest_rate_per_s: float = 0.0  # REST calls per second per app key; 0 = 19 real, 2 paper
    ca_file: str = ""  # extra CA bundle to trust for outbound HTTPS (verification is never off)
    kis_timeout_s: float = 10.0  # every KIS HTTP request, WebSocket connect and subscription ack
    kis_venue: Literal["KRX", "NXT", "UN"] = "KRX"  # realtime TRs (H0ST/H0NX/H0UN) and orders' exchange
    kis_resubscribe_per_s: float = 3.0  # subscription messages per second after a (re)connect
    # -- web / auth -------------------------------------------------------
    jwt_secret: str = ""  # default: generated into <data_dir>/keys.json
    jwt_lifetime_s: int = 86400
    token_cache_s: float = 2.0  # a user's token version is reused this long (logout here drops it at once)
    data_keys: str = ""  # comma-separated Fernet keys, first encrypts; default generated
    hash_key: str = ""  # HMAC key for account-number uniqueness; default generated
    paper_initial_cash: int = 100_000_000  # KRW a new paper account starts with
    bcrypt_cost: int = 12
    bcrypt_concurrency: int = 4
    login_max_failures: int = 5  # per (email, address) before 429; per email before it is slowed
    login_lockout_s: float = 300.0
    # -- hardening (issue 13) ----------------------------------------------
    login_max_per_address: int = 20  # attempts per address (any email) per lock-out window before 429
    login_max_delay_s: float = 30.0  # longest wait between tries on a slowed email from a new address
    register_max_per_address: int = 10  # registrations per address per lock-out window
    bcrypt_queue: int = 32  # password checks waiting for a bcrypt slot; past it 429
    lease_ttl_s: float = 30.0  # a server's database lease expires this long after its last heartbeat
    header_timeout_s: float = 10.0  # a request head must arrive this soon, else the connection closes
    body_timeout_s: float = 30.0  # a request body must arrive this soon, else 408
    keepalive_timeout_s: float = 15.0  # an idle kept-alive connection closes after this
    lease_wait: bool = False  # at start-up, wait for another server's lease instead of refusing (serve --wait)
    ws_auth_timeout_s: float = 10.0
    ws_max_subscriptions: int = 40
    ws_high_water: int = 256  # per-client queue depth above which trades/quotes conflate
    ws_max_queue: int = 4096  # per-client queue depth at which the client is closed (1013)
    ws_max_message_bytes: int = 65536
    ws_send_timeout_s: float = 5.0  # a send stalled this long closes the client with 1013
    ws_rate_per_s: float = 20.0  # client messages per second, per client
    ws_rate_burst: int = 100
    ws_user_rate_per_s: float = 50.0  # client messages per second per user, all their sockets together
    ws_user_rate_burst: int = 400
    max_body_bytes: int = 1048576
    # -- orders and risk ---------------------------------------------------
    commission_pct: float = 0.015  # % of the traded value, both sides (rounded down to the won)
    sell_tax_pct: float | None = None  # flat tax, % of the sold value; default: the KRX schedule by date and market
    paper_quote_timeout_s: float = 5.0  # a paper market order waits this long for a quote, else 503
    max_order_value: int = 50_000_000  # KRW per order (quantity x price); 0 = no limit; per-account override
    max_position_value: int = 100_000_000  # KRW held in one code after a buy; 0 = no limit; override
    daily_loss_limit: int = 5_000_000  # realised loss (KST day) that halts new buys; 0 = no limit; override
    balance_cache_s: float = 2.0  # an account's broker balance is reused this long
    order_timeout_s: float = 30.0  # how long POST /stocks/order waits for the account's answer
    order_retry_max: int = 3  # resends after KIS EGW00201 (rate limited: the order was not taken)
    order_retry_backoff_s: float = 1.0  # first wait before such a resend, doubled each time
    reconcile_retry_s: float = 5.0  # start-up reconciliation a broker refused: retried after this, doubled
    reconcile_interval_s: float = 10.0  # KIS accounts without fill notices: open orders reconciled this often
    max_accounts_per_user: int = 10  # broker accounts one user may register (422 max_accounts)
    max_swings_per_user: int = 20  # live swings (not completed or stopped) per user (422 max_swings)
    max_open_orders_per_account: int = 200  # open orders per account (422 max_open_orders)
    ws_max_connections_per_user: int = 20  # /kis_socket sessions one user may hold (error max_connections, 1008)
    ws_max_subscriptions_per_user: int = 200  # subscriptions across all a user's sockets (error max_subscriptions)
    ws_max_feeds_per_user: int = 100  # distinct codes across all a user's sockets (error max_feeds)
    # -- runtime ----------------------------------------------------------
    restart_max: int = 5
    restart_window_s: float = 60.0
    restart_backoff_base_s: float = 0.1
    restart_backoff_max_s: float = 10.0
    shutdown_deadline_s: float = 10.0
    ask_timeout_s: float = 5.0
    # -- cluster (issue 16) -----------------------------------------------
    cluster_nats_url: str = ""  # nats://127.0.0.1:4222 joins a cluster; empty: one process, no NATS
    node_id: str = ""  # this node's id in the cluster; default <host>-<pid>
    cluster_nats_creds: str = ""  # path of a NATS .creds file (JWT + nkey) when the server wants one
    cluster_prefix: str = "autotrader"  # subjects and buckets of one cluster start with it
    cluster_lease_ttl_s: float = 5.0  # an account's or a code's lease lapses this long after its holder died

    def __repr__(self) -> str:
        return f"Settings({self.public()!r})"

    __str__ = __repr__

    def public(self) -> dict[str, Any]:
        """Every field, secrets masked: safe to log."""
        out = msgspec.structs.asdict(self)
        for name in SECRET_FIELDS:
            if out.get(name):
                out[name] = "***"
        return out

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_path / 'autotrader.db').resolve()}"

    @property
    def replay_speed_value(self) -> float | None:
        """The replay speed as a number, None for ``max``."""
        text = str(self.replay_speed).strip().lower()
        if text == "max":
            return None
        try:
            speed = float(text)
        except ValueError:
            raise SettingsError(f"AUTOTRADER_REPLAY_SPEED={self.replay_speed!r}: expected a number or max") from None
        if not speed > 0 or speed == float("inf"):
            raise SettingsError(f"AUTOTRADER_REPLAY_SPEED={self.replay_speed!r}: must be positive")
        return speed

    @property
    def market_hours_ignored(self) -> bool:
        if self.ignore_market_hours is None:
            return self.market_data == "sim"
        return self.ignore_market_hours


def env_name(field: str) -> str:
    return "AUTOTRADER_" + field.upper()


def load_settings(environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Read the TOML file (if any), then the environment, then ``overrides``."""
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    config = env.get("AUTOTRADER_CONFIG")
    if config:
        try:
            raw.update(tomllib.loads(Path(config).read_text(encoding="utf-8")))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"AUTOTRADER_CONFIG={config}: {exc}") from None
    for field in Settings.__struct_fields__:
        value = env.get(env_name(field))
        if value is not None:
            raw[field] = _from_env(field, value)
    raw.update(overrides)
    unknown = set(raw) - set(Settings.__struct_fields__)
    if unknown:
        raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    for field, value in raw.items():
        try:
            msgspec.convert({field: value}, Settings, strict=False)
        except msgspec.ValidationError as exc:
            raise SettingsError(f"{env_name(field)}={_show(field, value)}: {exc}") from None
    settings = msgspec.convert(raw, Settings, strict=False)
    check(settings)
    check_cluster(settings)
    return settings


# -- range and meaning: (field, lowest, highest); None = unbounded ------------------------
RANGES: tuple[tuple[str, float | None, float | None], ...] = (
    ("port", 0, 65535), ("db_pool_recycle_s", 1, None), ("sim_trades_per_s", 0, None),
    ("sim_quotes_per_s", 0, None), ("sim_phases", 1, 10_000),
    ("feed_grace_s", 0, None), ("feed_history_bars", 1, 1_000_000), ("kis_max_subscriptions", 1, None),
    ("kis_reconnect_base_s", 0.001, None), ("kis_reconnect_max_s", 0.001, None),
    ("kis_pingpong_timeout_s", 0.001, None), ("kis_rest_rate_per_s", 0, None), ("kis_timeout_s", 0.001, None),
    ("kis_resubscribe_per_s", 0.01, 1000), ("reconcile_retry_s", 0.001, None),
    ("jwt_lifetime_s", 60, 366 * 86400), ("paper_initial_cash", 0, None), ("bcrypt_cost", 4, 31),
    ("bcrypt_concurrency", 1, 1024), ("bcrypt_queue", 0, None), ("login_max_failures", 1, None),
    ("login_lockout_s", 0.001, None), ("login_max_per_address", 1, None), ("login_max_delay_s", 0, None),
    ("register_max_per_address", 1, None), ("lease_ttl_s", 0.3, None),
    ("header_timeout_s", 0.01, None), ("body_timeout_s", 0.01, None), ("keepalive_timeout_s", 0.01, None), ("ws_auth_timeout_s", 0.001, None), ("ws_max_subscriptions", 1, None),
    ("ws_max_connections_per_user", 1, None), ("ws_max_subscriptions_per_user", 1, None),
    ("ws_max_feeds_per_user", 1, None), ("max_accounts_per_user", 1, None), ("max_swings_per_user", 1, None),
    ("max_open_orders_per_account", 1, None),
    ("ws_high_water", 1, None), ("ws_max_queue", 1, None), ("ws_max_message_bytes", 64, None),
    ("ws_send_timeout_s", 0.001, None), ("ws_rate_per_s", 0.001, None), ("ws_rate_burst", 1, None),
    ("ws_user_rate_per_s", 0.001, None), ("ws_user_rate_burst", 1, None),
    ("max_body_bytes", 1024, None), ("commission_pct", 0, 100), ("sell_tax_pct", 0, 100),
    ("paper_quote_timeout_s", 0.001, None), ("max_order_value", 0, None), ("max_position_value", 0, None),
    ("daily_loss_limit", 0, None), ("balance_cache_s", 0, None), ("order_timeout_s", 0.001, None),
    ("token_cache_s", 0, 3600),
    ("order_retry_max", 0, 100), ("order_retry_backoff_s", 0, None),
    ("restart_max", 0, None), ("restart_window_s", 0.001, None), ("restart_backoff_base_s", 0, None),
    ("restart_backoff_max_s", 0, None), ("shutdown_deadline_s", 0, None), ("ask_timeout_s", 0.001, None),
)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def check(settings: Settings) -> None:
    """Raise :class:`SettingsError` naming the first variable out of range or meaningless."""
    for field, lo, hi in RANGES:
        value = getattr(settings, field)
        if value is None:  # "the default rule" (e.g. sell_tax_pct: the KRX schedule)
            continue
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            bounds = f"at least {lo:g}" if hi is None else f"from {lo:g} to {hi:g}"
            raise SettingsError(f"{env_name(field)}={_show(field, value)}: must be {bounds}")
    if settings.log_level.upper() not in LOG_LEVELS:
        raise SettingsError(f"AUTOTRADER_LOG_LEVEL={settings.log_level!r}: expected one of {', '.join(LOG_LEVELS)}")
    if settings.market_data == "replay":
        if not settings.replay_csv:
            raise SettingsError("AUTOTRADER_REPLAY_CSV is required with AUTOTRADER_MARKET_DATA=replay: "
                                "the CSV of bars to replay")
        if not Path(settings.replay_csv).is_file():
            raise SettingsError(f"AUTOTRADER_REPLAY_CSV={settings.replay_csv!r}: no such file")
    settings.replay_speed_value  # noqa: B018 (a number or max)
    for field in ("replay_start", "replay_end"):
        value = getattr(settings, field)
        if value:
            try:
                dt.date.fromisoformat(value)
            except ValueError:
                raise SettingsError(f"{env_name(field)}={value!r}: expected YYYY-MM-DD") from None
    if settings.replay_start and settings.replay_end and settings.replay_end < settings.replay_start:
        raise SettingsError(f"AUTOTRADER_REPLAY_END={settings.replay_end!r} is before "
                            f"AUTOTRADER_REPLAY_START={settings.replay_start!r}: an empty date range")
    if settings.ws_high_water > settings.ws_max_queue:
        raise SettingsError(f"AUTOTRADER_WS_HIGH_WATER={settings.ws_high_water}: must not exceed "
                            f"AUTOTRADER_WS_MAX_QUEUE={settings.ws_max_queue}")


# names read from the environment that are not settings fields
OTHER_NAMES = frozenset({"AUTOTRADER_CONFIG", "AUTOTRADER_TEST_MARIADB_URL", "AUTOTRADER_FUZZ_EXAMPLES",
                         "AUTOTRADER_TEST_NATS_URL"})


def unknown_names(environ: dict[str, str] | None = None) -> list[str]:
    """One warning per ``AUTOTRADER_*`` variable that nothing reads, naming the closest known one."""
    import difflib

    env = os.environ if environ is None else environ
    known = sorted({env_name(field) for field in Settings.__struct_fields__} | OTHER_NAMES)
    out = []
    for name in sorted(env):
        if name.startswith("AUTOTRADER_") and name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else ""
            out.append(f"{name} is not a setting and is ignored{hint}")
    return out


def check_cluster(settings: Settings) -> None:
    """Cluster mode needs one database every node reaches: SQLite is refused, clearly. Node ids and
    the prefix become NATS subject tokens: letters, digits, ``-`` and ``_`` only."""
    import re

    for field in ("node_id", "cluster_prefix"):
        value = getattr(settings, field)
        if value and not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", value):
            raise SettingsError(f"{env_name(field)}={value!r}: 1 to 64 letters, digits, '-' or '_'")
    if settings.cluster_lease_ttl_s < 1.0:
        raise SettingsError(f"AUTOTRADER_CLUSTER_LEASE_TTL_S={settings.cluster_lease_ttl_s!r}: at least 1 second")
    if settings.cluster_nats_url and settings.effective_database_url.startswith("sqlite"):
        raise SettingsError(
            "AUTOTRADER_CLUSTER_NATS_URL is set but the database is SQLite: every node of a cluster "
            "must use the same MySQL/MariaDB database (AUTOTRADER_DATABASE_URL=mysql+aiomysql://...); "
            "unset AUTOTRADER_CLUSTER_NATS_URL to run one process on SQLite")


def _from_env(field: str, value: str) -> Any:
    annotation = Settings.__annotations__[field]
    if "bool" in str(annotation):
        lowered = value.strip().lower()
        if lowered in ("", "none") and "None" in str(annotation):
            return None
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{env_name(field)}={value!r}: expected true or false")
    return value


def _show(field: str, value: Any) -> str:
    return "***" if field in SECRET_FIELDS else repr(value)
