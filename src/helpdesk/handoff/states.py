"""Who owns a conversation: the bot, the queue, a person, or nobody (resolved).

    bot ──escalate──▶ waiting ──claim──▶ human ──resolve──▶ resolved
     ▲                   │                 │                    │
     ├─────release───────┘                 │                    │
     ├─────release─────────────────────────┘                    │
     └─────reopen (the customer writes again)───────────────────┘

Also legal: claim from bot (an agent steps in unasked) and from resolved (an agent
follows up), resolve from bot and waiting (spam, solved elsewhere).

Repeating the event that led to the current state is a no-op `Transition` with
`changed == False`, so retries and double clicks are harmless: escalate while
waiting, claim by the agent who holds it, resolve while resolved. Everything else
outside the table raises `InvalidTransition`.

This module only decides what is legal given what the caller read. Two agents who
read "waiting" at the same time both get a valid claim here: the store must apply
it as a conditional update (`UPDATE ... SET state='human', assigned_to=:agent
WHERE id=:id AND state=:from_state AND assigned_to IS NOT DISTINCT FROM :owner`) so
that exactly one row changes and the loser, re-reading, gets `InvalidTransition`.
Who may release or resolve someone else's conversation (an admin, say) is the
console's decision, not this module's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from helpdesk.domain import ConversationState

BOT = "bot"
SYSTEM = "system"
CUSTOMER = "customer"
NON_AGENT_ACTORS = frozenset({BOT, SYSTEM, CUSTOMER})


class HandoffEvent(StrEnum):
    ESCALATE = "escalate"
    CLAIM = "claim"
    RELEASE = "release"  # hand back to the bot
    RESOLVE = "resolve"
    REOPEN = "reopen"


class InvalidTransition(ValueError):
    """The event is not allowed from the conversation's current state (or by this actor)."""

    def __init__(
        self, current: ConversationState, event: HandoffEvent, actor: str, why: str
    ) -> None:
        super().__init__(f"cannot {event.value} a conversation in state {current.value!r}: {why}")
        self.current = current
        self.event = event
        self.actor = actor


S = ConversationState
E = HandoffEvent

_TABLE: dict[tuple[ConversationState, HandoffEvent], ConversationState] = {
    (S.BOT, E.ESCALATE): S.WAITING,
    (S.BOT, E.CLAIM): S.HUMAN,
    (S.BOT, E.RESOLVE): S.RESOLVED,
    (S.WAITING, E.CLAIM): S.HUMAN,
    (S.WAITING, E.RELEASE): S.BOT,
    (S.WAITING, E.RESOLVE): S.RESOLVED,
    (S.HUMAN, E.RELEASE): S.BOT,
    (S.HUMAN, E.RESOLVE): S.RESOLVED,
    (S.RESOLVED, E.REOPEN): S.BOT,
    (S.RESOLVED, E.CLAIM): S.HUMAN,
}
_REPEATS = {(S.WAITING, E.ESCALATE), (S.RESOLVED, E.RESOLVE)}

_WHY = {
    (S.BOT, E.RELEASE): "the bot already has it",
    (S.BOT, E.REOPEN): "it is open",
    (S.WAITING, E.REOPEN): "it is open, waiting for a person",
    (S.HUMAN, E.ESCALATE): "a person is already handling it",
    (S.HUMAN, E.REOPEN): "it is open, with a person",
    (S.RESOLVED, E.ESCALATE): "it is resolved; reopen it first",
    (S.RESOLVED, E.RELEASE): "it is resolved; reopen it instead",
}


@dataclass(frozen=True, slots=True)
class Transition:
    """One recorded move; `assigned_to` is the owning agent after it (None if nobody)."""

    from_state: ConversationState
    to_state: ConversationState
    event: HandoffEvent
    actor: str
    at: datetime
    reason: str | None = None
    assigned_to: str | None = None

    @property
    def changed(self) -> bool:
        return self.from_state is not self.to_state


def transition(
    current: ConversationState,
    event: HandoffEvent,
    *,
    actor: str,
    assigned_to: str | None = None,
    reason: str | None = None,
    at: datetime | None = None,
) -> Transition:
    """The move `event` makes from `current`, or InvalidTransition.

    `actor` is an agent id (as a string) or "bot" / "system" / "customer";
    `assigned_to` is the agent holding the conversation now, as the caller read it.
    """
    current, event = ConversationState(current), HandoffEvent(event)
    if not actor.strip():
        raise InvalidTransition(current, event, actor, "the actor is empty")
    at = at or datetime.now(UTC)
    if event is E.CLAIM:
        if actor in NON_AGENT_ACTORS:
            raise InvalidTransition(
                current, event, actor, f"only an agent can claim, not {actor!r}"
            )
        if current is S.HUMAN:
            if assigned_to == actor:
                return Transition(current, current, event, actor, at, reason, assigned_to=actor)
            holder = f"agent {assigned_to}" if assigned_to else "another agent"
            raise InvalidTransition(current, event, actor, f"already claimed by {holder}")
    if (current, event) in _REPEATS:
        return Transition(current, current, event, actor, at, reason, assigned_to=assigned_to)
    target = _TABLE.get((current, event))
    if target is None:
        raise InvalidTransition(current, event, actor, _WHY.get((current, event), "not allowed"))
    owner = actor if target is S.HUMAN else None
    return Transition(current, target, event, actor, at, reason, assigned_to=owner)


def allowed_events(current: ConversationState) -> frozenset[HandoffEvent]:
    """Events that change `current` (for the console's buttons)."""
    return frozenset(event for state, event in _TABLE if state is current)


def bot_may_answer(state: ConversationState) -> bool:
    """False while a person owns the conversation (waiting or human).

    True for resolved: the customer's next message reopens it (see `on_customer_message`)
    and the bot answers that message.
    """
    return state not in (S.WAITING, S.HUMAN)


def on_customer_message(state: ConversationState) -> HandoffEvent | None:
    """The event a new customer message causes: REOPEN for a resolved conversation.

    Whether to reopen the same conversation or start a new one is the caller's choice;
    either way the bot owns it again.
    """
    return E.REOPEN if state is S.RESOLVED else None
