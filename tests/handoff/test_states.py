"""The conversation state machine: legal moves, illegal ones, and racing claims."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from helpdesk.domain import ConversationState
from helpdesk.handoff.states import (
    HandoffEvent,
    InvalidTransition,
    Transition,
    allowed_events,
    bot_may_answer,
    on_customer_message,
    transition,
)

S = ConversationState
E = HandoffEvent
AT = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)

LEGAL = [
    (S.BOT, E.ESCALATE, "bot", S.WAITING),
    (S.BOT, E.CLAIM, "agent-1", S.HUMAN),
    (S.BOT, E.RESOLVE, "system", S.RESOLVED),
    (S.WAITING, E.CLAIM, "agent-1", S.HUMAN),
    (S.WAITING, E.RELEASE, "agent-1", S.BOT),
    (S.WAITING, E.RESOLVE, "agent-1", S.RESOLVED),
    (S.HUMAN, E.RELEASE, "agent-1", S.BOT),
    (S.HUMAN, E.RESOLVE, "agent-1", S.RESOLVED),
    (S.RESOLVED, E.REOPEN, "customer", S.BOT),
    (S.RESOLVED, E.CLAIM, "agent-1", S.HUMAN),
]

ILLEGAL = [
    (S.BOT, E.RELEASE, "the bot already has it"),
    (S.BOT, E.REOPEN, "it is open"),
    (S.WAITING, E.REOPEN, "it is open"),
    (S.HUMAN, E.ESCALATE, "a person is already handling it"),
    (S.HUMAN, E.REOPEN, "it is open"),
    (S.RESOLVED, E.ESCALATE, "reopen it first"),
    (S.RESOLVED, E.RELEASE, "reopen it instead"),
]


@pytest.mark.parametrize(("current", "event", "actor", "target"), LEGAL)
def test_legal_moves_record_who_did_what_and_when(
    current: S, event: E, actor: str, target: S
) -> None:
    move = transition(current, event, actor=actor, reason="keyword", at=AT)
    assert move == Transition(
        from_state=current,
        to_state=target,
        event=event,
        actor=actor,
        at=AT,
        reason="keyword",
        assigned_to=actor if target is S.HUMAN else None,
    )
    assert move.changed
    assert event in allowed_events(current)


@pytest.mark.parametrize(("current", "event", "why"), ILLEGAL)
def test_illegal_moves_raise_a_clear_error(current: S, event: E, why: str) -> None:
    with pytest.raises(InvalidTransition, match=why) as caught:
        transition(current, event, actor="agent-1")
    assert f"cannot {event.value} a conversation in state {current.value!r}" in str(caught.value)
    assert event not in allowed_events(current)


def test_the_second_agent_to_claim_loses() -> None:
    first = transition(S.WAITING, E.CLAIM, actor="ana")
    assert first.to_state is S.HUMAN and first.assigned_to == "ana"
    with pytest.raises(InvalidTransition, match="already claimed by agent ana"):
        transition(first.to_state, E.CLAIM, actor="bob", assigned_to=first.assigned_to)
    with pytest.raises(InvalidTransition, match="already claimed by another agent"):
        transition(S.HUMAN, E.CLAIM, actor="bob")


def test_repeating_the_last_event_changes_nothing() -> None:
    again = transition(S.HUMAN, E.CLAIM, actor="ana", assigned_to="ana")
    assert (again.to_state, again.assigned_to, again.changed) == (S.HUMAN, "ana", False)
    assert not transition(S.WAITING, E.ESCALATE, actor="bot").changed
    assert not transition(S.RESOLVED, E.RESOLVE, actor="ana").changed


@pytest.mark.parametrize("actor", ["bot", "system", "customer"])
def test_only_agents_claim(actor: str) -> None:
    with pytest.raises(InvalidTransition, match="only an agent can claim"):
        transition(S.WAITING, E.CLAIM, actor=actor)


def test_an_actor_is_required_and_times_are_utc() -> None:
    with pytest.raises(InvalidTransition, match="actor is empty"):
        transition(S.BOT, E.ESCALATE, actor=" ")
    move = transition("bot", "escalate", actor="bot")  # type: ignore[arg-type]
    assert move.to_state is S.WAITING and move.at.tzinfo is UTC


def test_the_bot_stays_quiet_while_a_person_owns_the_conversation() -> None:
    assert [s for s in S if not bot_may_answer(s)] == [S.WAITING, S.HUMAN]
    assert on_customer_message(S.RESOLVED) is E.REOPEN
    assert [s for s in S if on_customer_message(s) is not None] == [S.RESOLVED]


def test_a_full_handoff_round_trip() -> None:
    state = S.BOT
    for event, actor in [
        (E.ESCALATE, "bot"),
        (E.CLAIM, "ana"),
        (E.RESOLVE, "ana"),
        (E.REOPEN, "customer"),
        (E.ESCALATE, "bot"),
        (E.RELEASE, "system"),
    ]:
        state = transition(state, event, actor=actor).to_state
    assert state is S.BOT
