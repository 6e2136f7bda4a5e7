"""Errors of the actor runtime.

    EngineError
     ├── MailboxFull        tell() found no room (and the mailbox does not conflate this message)
     ├── ActorStopped       the target is stopped; pending asks fail with it at once
     ├── AskTimeout         no reply within the ask's timeout (also a TimeoutError)
     ├── ActorNotFound      no actor at that path
     ├── PathTaken          spawn() on a path already in use
     ├── MailboxOverflow    raised inside an actor whose FAULT mailbox overflowed,
                            so its supervisor restarts it (it reloads its state)
     └── IllegalTransition  a lifecycle change the state table does not allow (a runtime bug)

Domain errors (bad orders, unknown users...) live with their domains; the web
layer's middleware is the only place any of them becomes an HTTP status.
"""

from __future__ import annotations


class EngineError(Exception):
    """Base of every runtime error."""


class MailboxFull(EngineError):
    def __init__(self, path: str, limit: int) -> None:
        super().__init__(f"mailbox of {path} is full ({limit} messages)")
        self.path = path
        self.limit = limit


class ActorStopped(EngineError):
    def __init__(self, path: str) -> None:
        super().__init__(f"actor {path} is stopped")
        self.path = path


class AskTimeout(EngineError, TimeoutError):
    def __init__(self, path: str, msg_type: str, timeout: float) -> None:
        super().__init__(f"{path} did not answer {msg_type} within {timeout:g} s")
        self.path = path


class ActorNotFound(EngineError, LookupError):
    def __init__(self, path: str) -> None:
        super().__init__(f"no actor at {path}")
        self.path = path


class PathTaken(EngineError):
    def __init__(self, path: str) -> None:
        super().__init__(f"an actor already runs at {path}")
        self.path = path


class MailboxOverflow(EngineError):
    def __init__(self, path: str, msg_type: str) -> None:
        super().__init__(f"mailbox of {path} overflowed with {msg_type}")
        self.path = path


class IllegalTransition(EngineError):
    def __init__(self, state: str, trigger: str) -> None:
        super().__init__(f"no lifecycle transition from {state} on {trigger}")
        self.state = state
        self.trigger = trigger
