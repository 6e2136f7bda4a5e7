"""Errors of the KIS adapter.

    KisError
     ├── FrameError             a real-time frame that cannot be parsed (the stream logs,
     │                          counts and drops it; it never stops the stream)
     ├── KisApiError            KIS answered with an error: ``status`` (HTTP), ``code``
     │    │                     (``msg_cd`` or ``error_code``) and ``message`` (``msg1``)
     │    ├── KisRateLimited    EGW00201, too many REST calls per second
     │    └── KisTokenError     token or approval-key issuance refused (EGW00133 ...)
     ├── KisTransportError      no answer: connection refused, timeout, not JSON
     ├── KisSubscriptionError   a subscription was refused (OPSP0008 MAX SUBSCRIBE OVER,
     │                          invalid tr_id or code) or is beyond total capacity
     └── BackfillError          history could not be fetched (wraps the cause)

Secrets (app secret, tokens, approval keys) never appear in any message.
"""

from __future__ import annotations

from engine.errors import DomainError


class KisError(DomainError):
    """Base of every KIS adapter error."""


class FrameError(KisError, ValueError):
    """A real-time data frame is malformed."""


class KisApiError(KisError):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"KIS error {code or '?'} (HTTP {status}): {message}")
        self.status = status
        self.code = code
        self.message = message


class KisRateLimited(KisApiError):
    """EGW00201: the per-second REST limit of an app key was exceeded."""


class KisTokenError(KisApiError):
    """The access token or approval key could not be issued."""


class KisTransportError(KisError):
    """The server did not answer usefully (network error, timeout, non-JSON body).

    ``sent`` is False only when the connection itself failed, so the request never left.
    """

    def __init__(self, message: str, *, sent: bool = True) -> None:
        super().__init__(message)
        self.sent = sent


class KisSubscriptionError(KisError):
    def __init__(self, tr_id: str, code: str, reason: str) -> None:
        super().__init__(f"subscription {tr_id}/{code} refused: {reason}")
        self.tr_id = tr_id
        self.code = code
        self.reason = reason


class BackfillError(KisError):
    """History for a code could not be fetched."""
