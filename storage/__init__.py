"""Storage: the database, its schema and migrations, repositories, secrets and passwords.

Other packages import from here, never from the modules behind it::

    settings = ensure_keys(settings)                  # once, at start-up (file I/O)
    engine = create_engine(settings)
    await upgrade(engine)
    sessions = create_session_factory(engine)
    crypto = Crypto.from_settings(settings)
    async with sessions.begin() as session:
        user = await UserRepo(session).create(email, await hasher.hash(password))
"""

from storage.accounts import (
    Account,
    AccountCredentials,
    AccountRepo,
    BrokerKind,
    account_owner,
    normalize_account_number,
)
from storage.bars import BarRepo
from storage.crypto import Crypto, RowKeys, check_keys, mask, require_keys_open_rows, rotate_keys, rows_not_under
from storage.db import (
    create_engine,
    create_session_factory,
    current_revision,
    describe,
    downgrade,
    head_revision,
    ping,
    upgrade,
)
from storage.errors import (
    AccountExists,
    Conflict,
    CryptoError,
    DatabaseUnavailable,
    DecryptionFailed,
    EmailTaken,
    KeyConfigError,
    NotFound,
    StorageError,
    WeakPassword,
)
from storage.keys import ensure_keys, stored_data_keys, write_data_keys
from storage.kis_tokens import SqlTokenStore, TokenKeys, check_tokens, rotate_tokens, tokens_not_under
from storage.leases import PROCESS, LeaseHeld, LeaseKeeper
from storage.orders import OrderRepo, SqlJournal
from storage.paper_ledger import SqlPaperLedger
from storage.passwords import HasherBusy, PasswordHasher, check_password, password_problem
from storage.swings import SqlSwingStore, Swing, SwingEvent, SwingRepo
from storage.users import Role, User, UserRepo, normalize_email

__all__ = [
    "Account",
    "AccountCredentials",
    "AccountExists",
    "AccountRepo", "account_owner",
    "BarRepo",
    "BrokerKind",
    "Conflict",
    "Crypto",
    "CryptoError",
    "DatabaseUnavailable",
    "DecryptionFailed",
    "EmailTaken",
    "HasherBusy",
    "KeyConfigError",
    "LeaseHeld",
    "LeaseKeeper",
    "NotFound",
    "OrderRepo",
    "PROCESS",
    "PasswordHasher",
    "Role",
    "RowKeys",
    "SqlJournal",
    "SqlPaperLedger",
    "StorageError",
    "SqlSwingStore",
    "SqlTokenStore",
    "TokenKeys",
    "check_tokens",
    "rotate_tokens",
    "tokens_not_under",
    "Swing",
    "SwingEvent",
    "SwingRepo",
    "User",
    "UserRepo",
    "WeakPassword",
    "check_keys",
    "check_password",
    "create_engine",
    "create_session_factory",
    "current_revision",
    "describe",
    "downgrade",
    "ensure_keys",
    "head_revision",
    "mask",
    "normalize_account_number",
    "normalize_email",
    "password_problem",
    "ping",
    "require_keys_open_rows",
    "rotate_keys",
    "rows_not_under",
    "stored_data_keys",
    "upgrade",
    "write_data_keys",
]
