"""The actor runtime: actors, refs, bounded mailboxes, supervision, the system, clocks."""

from engine.runtime.actor import Actor, ActorContext
from engine.runtime.cell import current_actor
from engine.runtime.clock import Clock, ManualClock, WallClock
from engine.runtime.errors import (
    ActorNotFound,
    ActorStopped,
    AskTimeout,
    EngineError,
    MailboxFull,
    MailboxOverflow,
    PathTaken,
)
from engine.runtime.mailbox import MailboxSpec, Overflow
from engine.runtime.ref import ActorRef
from engine.runtime.supervisor import ChildSpec, ChildTerminated, Supervisor
from engine.runtime.system import ActorSystem

__all__ = [
    "Actor", "ActorContext", "ActorNotFound", "ActorRef", "ActorStopped", "ActorSystem",
    "AskTimeout", "ChildSpec", "ChildTerminated", "Clock", "EngineError", "MailboxFull",
    "MailboxOverflow", "MailboxSpec", "ManualClock", "Overflow", "PathTaken", "Supervisor",
    "WallClock", "current_actor",
]
