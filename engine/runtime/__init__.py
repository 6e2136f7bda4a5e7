"""The actor runtime: actors, refs, bounded mailboxes, supervision, the system, clocks.

What every actor gets from it: ``ref.try_tell`` (a message not taken is a
counted dead letter), ``ctx.tell_later`` / ``ctx.tell_every`` on the system
clock, ``ctx.pipe_to_self``, the lifecycle table (:mod:`.lifecycle`), and for
tests ``system.idle()`` and ``system.cell_info(path)``.

Hubs keep their routing across a restart
----------------------------------------
A hub (``/feeds``, ``/strategies``, ``/sessions``, ``/swings``, ``/accounts``)
is a :class:`Supervisor`: its children are the actors it routes to. When the
hub itself crashes, its children keep running (one-for-one), so the hub must
not forget them. The rule: *the routing table lives outside the restartable
state*, in the actor's context, which outlives every instance of its path::

        ActorCell("/feeds")  ── keeps ──▶ ctx.kept(FeedTable)   (who watches what)
          │                                   ▲        ▲
          │ crash ▶ restart                   │        │ same object
          ▼                                   │        │
        FeedHub #1 ── on_start ───────────────┘        │
        FeedHub #2 ── on_start ────────────────────────┘   (+ re-arms its grace timers)

- ``/feeds``: FeedTable (subscriptions, upstream channels, generations);
  the feeds themselves re-announce with ``FeedStarted`` when *they* restart.
- ``/strategies``: StrategyTable (sessions and codes per strategy).
- ``/sessions``: SessionTable (sessions per user).
- ``/swings``: rebuilt from storage in ``on_start`` (live swings; running
  ones are adopted, not spawned twice).
- ``/accounts``: nothing to keep (the path is the route).

Timers and piped tasks are *not* kept: a new instance re-arms its own in
``on_start``. A message a hub does not know is logged and dropped.
"""

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
