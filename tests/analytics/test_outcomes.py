"""How a conversation's outcome is decided (the rules in helpdesk.analytics.outcomes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from helpdesk.analytics.outcome import Outcome
from helpdesk.analytics.outcomes import BATCH, OutcomeCloser, classify, is_confirmation
from helpdesk.config import Settings
from helpdesk.store.analytics import Candidate, Signals
from helpdesk.store.db import create_engine, session_factory
from helpdesk.store.models import Conversation, ConversationEvent, ConversationOutcome
from tests.analytics.history import Builder, at

SETTINGS = Settings(
    _env_file=None,  # type: ignore[call-arg]
    analytics_resolution_window_seconds=3600,
    analytics_abandon_window_seconds=86400,
)
LAST = at(10, 12)


def candidate(state: str, **values: object) -> Candidate:
    fields: dict[str, object] = {
        "id": 1,
        "customer_id": 1,
        "channel": "telegram",
        "chat_id": 1,
        "state": state,
        "escalated_at": None,
        "resolved_at": None,
        "last_activity": LAST,
    }
    fields.update(values)
    return Candidate(**fields)  # type: ignore[arg-type]


def signals(**values: object) -> Signals:
    fields: dict[str, object] = {
        "last_author": "bot",
        "last_customer_text": "where is my parcel?",
        "bot_answers": 1,
        "agent_messages": 0,
        "last_bot_vote": None,
        "any_helpful_vote": False,
        "score": None,
    }
    fields.update(values)
    return Signals(**fields)  # type: ignore[arg-type]


def decide(c: Candidate, s: Signals, after: timedelta) -> tuple[str, str] | None:
    decision = classify(c, s, LAST + after, SETTINGS)
    return None if decision is None else (decision.outcome.value, decision.reason)


def test_a_bot_conversation_waits_for_the_window() -> None:
    assert decide(candidate("bot"), signals(), timedelta(minutes=59)) is None
    assert decide(candidate("bot"), signals(), timedelta(minutes=61)) == (
        "resolved_bot",
        "no_follow_up",
    )


def test_the_customer_confirms_or_denies() -> None:
    hour = timedelta(hours=1, seconds=1)
    assert decide(candidate("bot"), signals(any_helpful_vote=True), hour)[1] == "confirmed"  # type: ignore[index]
    assert decide(candidate("bot"), signals(score=4), hour)[1] == "confirmed"  # type: ignore[index]
    thanks = signals(last_customer_text="Thanks, that solved it!")
    assert decide(candidate("bot"), thanks, hour) == ("resolved_bot", "confirmed")
    assert decide(candidate("bot"), signals(last_bot_vote=False), hour) == (
        "abandoned",
        "answer_unhelpful",
    )
    assert decide(candidate("bot"), signals(bot_answers=0), hour) == ("abandoned", "no_answer")


def test_the_team_side() -> None:
    resolved = candidate("resolved", resolved_at=LAST)
    decision = classify(resolved, signals(), LAST, SETTINGS)
    assert decision is not None and decision.outcome is Outcome.RESOLVED_AGENT
    assert decision.ended_at == LAST
    day = timedelta(hours=24, seconds=1)
    assert decide(candidate("waiting"), signals(), timedelta(hours=23)) is None
    assert decide(candidate("waiting"), signals(), day) == ("abandoned", "left_waiting")
    assert decide(candidate("human"), signals(last_author="agent"), day) == (
        "resolved_agent",
        "no_follow_up",
    )
    assert decide(candidate("human"), signals(last_author="customer"), day) == (
        "abandoned",
        "no_agent_reply",
    )


def test_confirmations() -> None:
    for text in ("thanks!", "Thank you so much", "that helped", "Danke", "merci beaucoup"):
        assert is_confirmation(text), text
    for text in ("it still does not work", "where is my refund", None, ""):
        assert not is_confirmation(text), text


async def test_the_closer_pages_past_undecided_conversations(database_url: str) -> None:
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    start = datetime(2026, 11, 10, 12, tzinfo=UTC)
    async with sessions.begin() as session:
        b = Builder(session)
        customer = await b.customer(1, "en")
        # More waiting conversations than a page, none idle long enough to be decided...
        for _ in range(BATCH + 5):
            waiting = await b.conversation(customer, start, state="waiting", escalated_at=start)
            await b.say(waiting, start)
        # ...before a bot conversation that is.
        answered = await b.conversation(customer, start)
        await b.say(answered, start)
        await b.bot(answered, start + timedelta(seconds=2), 0.9, [])

    decided = await OutcomeCloser(sessions, SETTINGS, outlets={}).close_due(
        start + timedelta(hours=2)
    )

    assert [(cid, d.outcome.value, d.reason) for cid, d in decided] == [
        (answered.id, "resolved_bot", "no_follow_up")
    ]
    async with sessions() as session:
        closed = await session.get(Conversation, answered.id)
        assert closed is not None and closed.state == "resolved" and closed.closed_at is not None
        event = await session.scalar(
            select(ConversationEvent.actor).where(ConversationEvent.conversation_id == answered.id)
        )
        assert event == "system"
        outcome = await session.get(ConversationOutcome, answered.id)
        assert outcome is not None and outcome.ended_at == start + timedelta(seconds=2)
    # Decided once: a second pass finds nothing new.
    assert (
        await OutcomeCloser(sessions, SETTINGS, outlets={}).close_due(start + timedelta(hours=3))
        == []
    )
    await engine.dispose()
