"""The actor runtime: actors, refs, bounded mailboxes, supervision, the system, clocks."""

from engine.runtime.actor import Actor, ActorContext
from engine.runtime.cell import current_actor
from engine.runtime.clock import Clock, ManualClock, WallClock
from engine.runtime.errors import (
    ActorNotFound,
    ActorStopped,
    AskTimeout,
    EngineError,
    IllegalTransition,
    MailboxFull,
    MailboxOverflow,
    PathTaken,
)
from engine.runtime.lifecycle import ActorState
from engine.runtime.mailbox import MailboxSpec, Overflow
from engine.runtime.ref import ActorRef
from engine.runtime.supervisor import ChildSpec, ChildTerminated, Supervisor
from engine.runtime.system import ActorSystem, DeadLetter

__all__ = [
    "Actor", "ActorContext", "ActorNotFound", "ActorRef", "ActorState", "ActorStopped", "ActorSystem",
    "AskTimeout", "ChildSpec", "ChildTerminated", "Clock", "DeadLetter", "EngineError", "IllegalTransition",
    "MailboxFull",
    "MailboxOverflow", "MailboxSpec", "ManualClock", "Overflow", "PathTaken", "Supervisor",
    "WallClock", "current_actor",
]
