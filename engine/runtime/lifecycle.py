"""An actor's lifecycle as one table: ``(state, trigger) -> state``, checked on every change.

    STARTING ──started──▶ RUNNING ──stop──▶ STOPPING ──stopped──▶ STOPPED
       │ ▲                  │ │
       │ └───restarted──┐   │ └──crash (budget left)──▶ RESTARTING
       │                └───┼───────────────────────────────┘
       ├──crash────────────▶RESTARTING ──stop──▶ STOPPING
       └──fault─▶ FAULTED ◀─fault── RUNNING       (budget spent: stopped for good)

A change the table does not list is a bug in the runtime and raises
:class:`IllegalTransition` at once, instead of leaving an actor in a state
nobody can reason about (NautilusTrader's ``_COMPONENT_STATE_TABLE``).
The values are the strings the admin tree shows.
"""

from __future__ import annotations

import enum

from engine.runtime.errors import IllegalTransition


class ActorState(enum.StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    RESTARTING = "restarting"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAULTED = "faulted"


class Trigger(enum.StrEnum):
    STARTED = "started"      # on_start returned
    CRASH = "crash"          # a handler (or on_start) raised, or a permanent actor stopped itself; budget left
    RESTARTED = "restarted"  # the back-off passed and a fresh instance is built
    FAULT = "fault"          # the restart budget is spent (or the actor is temporary)
    STOP = "stop"            # a stop was asked, or the task was cancelled
    STOPPED = "stopped"      # on_stop ran and the mailbox is drained


S, T = ActorState, Trigger

TRANSITIONS: dict[tuple[ActorState, Trigger], ActorState] = {
    (S.STARTING, T.STARTED): S.RUNNING,
    (S.STARTING, T.CRASH): S.RESTARTING,
    (S.STARTING, T.FAULT): S.FAULTED,
    (S.STARTING, T.STOP): S.STOPPING,
    (S.RUNNING, T.CRASH): S.RESTARTING,
    (S.RUNNING, T.FAULT): S.FAULTED,
    (S.RUNNING, T.STOP): S.STOPPING,
    (S.RESTARTING, T.RESTARTED): S.STARTING,
    (S.RESTARTING, T.FAULT): S.FAULTED,
    (S.RESTARTING, T.STOP): S.STOPPING,
    (S.STOPPING, T.STOPPED): S.STOPPED,
}


def next_state(state: ActorState, trigger: Trigger) -> ActorState:
    """The state after ``trigger``; raises IllegalTransition when the table has no such change."""
    try:
        return TRANSITIONS[(state, trigger)]
    except KeyError:
        raise IllegalTransition(state.value, trigger.value) from None
