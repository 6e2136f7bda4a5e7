"""The two error roots of Auto-Trader, drawn in one place.

::

    EngineError  (engine.runtime.errors)         the actor runtime itself
     ├── MailboxFull, ActorStopped, AskTimeout    busy or gone: the caller may retry (→ 503)
     └── ActorNotFound, PathTaken, MailboxOverflow, IllegalTransition

    DomainError  (here)                           the trading domain said no, or could not
     ├── rules
     │    ├── OrderRefused        engine.risk            an order breaks a rule; nothing sent
     │    ├── SwingParamsError    engine.strategy.swing  bad swing parameters (fields named)
     │    └── StrategyParamsError engine.strategy.realtime
     ├── broker
     │    ├── BrokerError         engine.brokers.base    OrderRejected, OutcomeUnknown, BrokerUnavailable
     │    ├── NoQuote, PaperCancelled, LedgerRefused     engine.brokers.paper
     │    └── KisError            engine.brokers.kis.errors (frames, API, transport, subscriptions)
     └── storage
          └── StorageError        storage.errors         DatabaseUnavailable, NotFound, Conflict,
                                                          WeakPassword, CryptoError

The web layer's own :class:`web.errors.ApiError` carries its status; only
``web/middlewares.py`` turns any of these into an HTTP status and a JSON body,
with one short table. Configuration errors (``SettingsError``) stop the
process at start-up and are neither.
"""

from __future__ import annotations

from engine.runtime.errors import EngineError

__all__ = ["DomainError", "EngineError"]


class DomainError(Exception):
    """Base of every rule, broker and storage error."""
