"""A small, hand-checked support history written straight into the database.

Six conversations in the week of 1-7 November 2026 (plus one just before and one
just after it); the expected figures are worked out by hand in test_metrics.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.store.models import (
    Agent,
    AnswerFeedback,
    Conversation,
    ConversationOutcome,
    Customer,
    Message,
    Rating,
)


def at(day: int, hour: int, minute: int = 0, second: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


SHIPPING = [{"article_id": "shipping", "title": "Shipping", "url": None, "score": 0.8}]
RETURNS = [{"article_id": "returns", "title": "Returns", "url": None, "score": 0.7}]


class Builder:
    """Rows written one by one (and flushed, so that their ids are known)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, row: Any) -> Any:
        self.session.add(row)
        await self.session.flush()
        return row

    async def customer(
        self, external_id: int, language: str, since: datetime | None = None
    ) -> Customer:
        since = since or at(1, 0, month=10)
        return await self.add(
            Customer(
                channel="telegram",
                external_id=external_id,
                first_name=f"Customer {external_id}",
                language_code=language,
                created_at=since,
                last_seen_at=since,
            )
        )

    async def agent(self, name: str) -> Agent:
        return await self.add(
            Agent(
                email=f"{name.lower()}@example.com",
                name=name,
                role="agent",
                password_hash="x",
                created_at=at(1, 0, month=10),
            )
        )

    async def conversation(
        self, customer: Customer, start: datetime, **values: Any
    ) -> Conversation:
        return await self.add(
            Conversation(
                customer_id=customer.id,
                channel="telegram",
                chat_id=customer.external_id,
                state=values.pop("state", "bot"),
                needs_human=False,
                created_at=start,
                updated_at=start,
                **values,
            )
        )

    async def say(self, conversation: Conversation, when: datetime, text: str = "hi") -> Message:
        return await self.message(conversation, when, "customer", text=text, direction="in")

    async def bot(
        self, conversation: Conversation, when: datetime, confidence: float, sources: Any
    ) -> Message:
        return await self.message(
            conversation, when, "bot", confidence=confidence, sources=sources, text="answer"
        )

    async def message(
        self, conversation: Conversation, when: datetime, author: str, **values: Any
    ) -> Message:
        values.setdefault("direction", "out")
        values.setdefault("kind", "text")
        return await self.add(
            Message(conversation_id=conversation.id, author=author, created_at=when, **values)
        )

    async def outcome(
        self, conversation: Conversation, outcome: str, ended: datetime, reason: str | None = "x"
    ) -> None:
        await self.add(
            ConversationOutcome(
                conversation_id=conversation.id,
                outcome=outcome,
                reason=reason,
                ended_at=ended,
                decided_at=ended,
            )
        )

    async def rating(
        self, conversation: Conversation, score: int, when: datetime | None = None
    ) -> None:
        when = when or at(8, 0)
        await self.add(
            Rating(
                conversation_id=conversation.id,
                customer_id=conversation.customer_id,
                score=score,
                created_at=when,
                updated_at=when,
            )
        )

    async def vote(self, message: Message, helpful: bool, when: datetime | None = None) -> None:
        when = when or at(8, 0)
        await self.add(
            AnswerFeedback(
                message_id=message.id,
                conversation_id=message.conversation_id,
                helpful=helpful,
                created_at=when,
                updated_at=when,
            )
        )


async def build_week(session: AsyncSession) -> dict[str, int]:
    """The week described in test_metrics.py; returns the agents' ids."""
    b = Builder(session)
    alice, bob = await b.agent("Alice"), await b.agent("Bob")
    en1, en2, de = (
        await b.customer(101, "en"),
        await b.customer(102, "en"),
        await b.customer(103, "de"),
    )

    # C1: answered, 👍, rated 5.
    c1 = await b.conversation(en1, at(1, 10))
    await b.say(c1, at(1, 10))
    answer = await b.bot(c1, at(1, 10, 0, 2), 0.9, SHIPPING)
    await b.vote(answer, True)
    await b.outcome(c1, "resolved_bot", at(1, 10, 0, 2), "confirmed")
    await b.rating(c1, 5)

    # C2: two questions, the first answer 👎, rated 4.
    c2 = await b.conversation(en1, at(1, 12))
    await b.say(c2, at(1, 12))
    first = await b.bot(c2, at(1, 12, 0, 4), 0.8, RETURNS)
    await b.vote(first, False)
    await b.say(c2, at(1, 12, 1, 0))
    await b.bot(c2, at(1, 12, 1, 3), 0.7, RETURNS)
    await b.outcome(c2, "resolved_bot", at(1, 12, 1, 3), "no_follow_up")
    await b.rating(c2, 4)

    # C3: low confidence, Alice takes it and resolves it; rated 2.
    c3 = await b.conversation(
        de,
        at(2, 9),
        state="resolved",
        escalation_reason="low_confidence",
        escalated_at=at(2, 9, 0, 10),
        assigned_agent_id=alice.id,
        claimed_at=at(2, 9, 5),
        resolved_at=at(2, 9, 20),
        closed_at=at(2, 9, 20),
    )
    await b.say(c3, at(2, 9))
    await b.bot(c3, at(2, 9, 0, 10), 0.2, RETURNS)
    await b.message(c3, at(2, 9, 6), "agent", agent_id=alice.id, text="let me check")
    await b.message(c3, at(2, 9, 10), "agent", agent_id=alice.id, text="done")
    await b.outcome(c3, "resolved_agent", at(2, 9, 20), "resolved")
    await b.rating(c3, 2)

    # C4: "a human please", Bob answers after half an hour; not rated.
    c4 = await b.conversation(
        en2,
        at(3, 15),
        state="resolved",
        escalation_reason="explicit_request",
        escalated_at=at(3, 15, 0, 1),
        assigned_agent_id=bob.id,
        claimed_at=at(3, 15, 30),
        resolved_at=at(3, 16),
        closed_at=at(3, 16),
    )
    await b.say(c4, at(3, 15))
    await b.message(c4, at(3, 15, 0, 1), "system", text="A person will reply")
    await b.message(c4, at(3, 15, 31), "agent", agent_id=bob.id, text="hello")
    await b.outcome(c4, "resolved_agent", at(3, 16), "resolved")

    # C5: a keyword hands it over, nobody comes, the customer leaves.
    c5 = await b.conversation(
        de, at(5, 8), escalation_reason="keyword", escalated_at=at(5, 8, 0, 6), state="resolved"
    )
    await b.say(c5, at(5, 8))
    await b.bot(c5, at(5, 8, 0, 6), 0.6, SHIPPING)
    await b.outcome(c5, "abandoned", at(5, 8, 0, 6), "left_waiting")

    # C6: still open.
    c6 = await b.conversation(en1, at(6, 20))
    await b.say(c6, at(6, 20))
    await b.bot(c6, at(6, 20, 0, 8), 0.5, SHIPPING)
    # A button press is not a message of the transcript.
    await b.message(c6, at(6, 20, 1), "customer", kind="callback", direction="in")

    # Outside the week: the evening before, and the first second after it.
    before = await b.conversation(en2, at(31, 23, month=10))
    await b.say(before, at(31, 23, month=10))
    after = await b.conversation(en2, at(8, 0))
    await b.say(after, at(8, 0))
    return {"alice": alice.id, "bob": bob.id}
