"""The storage layer's domain errors, raised by repositories, crypto and passwords.

Only ``web/middlewares.py`` turns them into HTTP statuses. Messages are safe to
show: they never contain a password, a secret, an account number or a URL
with credentials.

::

    StorageError                    (a DomainError: see engine/errors.py)
     ├── DatabaseUnavailable        the database did not answer (→ 503)
     ├── NotFound                   no such row for this caller (→ 404)
     ├── Conflict                   a uniqueness rule (→ 409)
     │    ├── EmailTaken
     │    └── AccountExists         same account number twice for one user
     ├── WeakPassword               the password policy refused it (→ 422, field)
     └── CryptoError
          ├── DecryptionFailed      ciphertext tampered with, or no key opens it
          └── KeyConfigError        a configured key is malformed (start-up)
"""

from __future__ import annotations

from engine.errors import DomainError


class StorageError(DomainError):
    """Base of every error raised by :mod:`storage`."""


class DatabaseUnavailable(StorageError):
    """The database did not answer (unreachable, refused, or timed out)."""


class NotFound(StorageError):
    """The row does not exist, or does not belong to the caller."""


class Conflict(StorageError):
    """A uniqueness rule refused the write."""


class EmailTaken(Conflict):
    def __init__(self) -> None:
        super().__init__("email already registered")


class AccountExists(Conflict):
    def __init__(self) -> None:
        super().__init__("account number already registered for this user")


class WeakPassword(StorageError):
    """The password breaks the policy; ``field`` names the request field."""

    field = "password"


class CryptoError(StorageError):
    """Encryption or key handling failed."""


class DecryptionFailed(CryptoError):
    def __init__(self) -> None:
        super().__init__("ciphertext rejected: tampered with, or encrypted under an unknown key")


class KeyConfigError(CryptoError):
    """A configured key is malformed; the message names the setting, never the value."""
