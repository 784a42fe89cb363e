"""Reading a period's conversations for the metrics: a few aggregate queries.

One GROUP BY over the period's messages (per conversation and agent: message
counts, first customer message, first reply, first agent reply, first bot
answer, confidence sums, agent replies), one query for the conversations
themselves (outcome, rating, language), and one for the top source of each
conversation's first bot answer. Joined here, in Python: a single
SQL statement joining the aggregate made PostgreSQL build it once per parallel
worker, which cost more than the whole of this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, case, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from helpdesk.analytics.outcome import Outcome, current_outcome
from helpdesk.store.models import (
    AnswerFeedback,
    Conversation,
    ConversationOutcome,
    Customer,
    Message,
    Rating,
)
from helpdesk.store.types import UTCDateTime

NO_TOPIC = "(no answer)"
UNKNOWN = "(unknown)"


@dataclass(frozen=True)
class Period:
    """[start, end) in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("period bounds must be timezone-aware")
        if self.end <= self.start:
            raise ValueError("the period must end after it starts")

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    def previous(self) -> Period:
        """The period of the same length just before this one (for "change vs before")."""
        return Period(self.start - self.length, self.start)

    @classmethod
    def last_days(cls, days: int, *, now: datetime | None = None) -> Period:
        """The `days` whole UTC days up to and including today."""
        today = (now or datetime.now(UTC)).astimezone(UTC).date()
        end = datetime.combine(today + timedelta(days=1), datetime.min.time(), UTC)
        return cls(end - timedelta(days=days), end)


@dataclass
class Facts:
    """One conversation of the period."""

    id: int
    created_at: datetime
    channel: str
    language: str
    outcome: Outcome
    escalated_at: datetime | None
    escalation_reason: str | None
    agent_id: int | None
    claimed_at: datetime | None
    ended_at: datetime | None
    score: int | None
    messages: int = 0
    first_customer_at: datetime | None = None
    first_reply_at: datetime | None = None
    first_agent_at: datetime | None = None
    topic: str = NO_TOPIC
    bot_answers: int = 0
    confidence_sum: float = 0.0
    confidence_count: int = 0


@dataclass
class Loaded:
    facts: list[Facts]
    replies: dict[int, int] = field(default_factory=dict)  # agent id → messages sent
    helpful_votes: int = 0
    votes: int = 0


def period_conversations(period: Period, language: str | None) -> Select[Any]:
    """Ids of the conversations created in the period (and the customer's language)."""
    query = select(Conversation.id).where(
        Conversation.created_at >= period.start, Conversation.created_at < period.end
    )
    if language is not None:
        query = query.join(Customer, Customer.id == Conversation.customer_id).where(
            Customer.language_code == language
        )
    return query


async def load(session: AsyncSession, period: Period, language: str | None) -> Loaded:
    ids = period_conversations(period, language)
    conversations = (
        select(
            Conversation.id,
            Conversation.created_at,
            Conversation.channel,
            Customer.language_code,
            Conversation.escalated_at,
            Conversation.escalation_reason,
            Conversation.assigned_agent_id,
            Conversation.claimed_at,
            ConversationOutcome.outcome,
            ConversationOutcome.ended_at,
            Rating.score,
        )
        .join(Customer, Customer.id == Conversation.customer_id)
        .outerjoin(ConversationOutcome, ConversationOutcome.conversation_id == Conversation.id)
        .outerjoin(Rating, Rating.conversation_id == Conversation.id)
        .where(Conversation.created_at >= period.start, Conversation.created_at < period.end)
        .order_by(Conversation.id)
    )
    if language is not None:
        conversations = conversations.where(Customer.language_code == language)
    facts: dict[int, Facts] = {}
    # Core rows through the session's connection: the ORM's row loading is a third of
    # the time for plain column tuples like these.
    connection = await session.connection()
    for row in await connection.execute(conversations):
        facts[row.id] = Facts(
            id=row.id,
            created_at=row.created_at,
            channel=row.channel,
            language=row.language_code or UNKNOWN,
            outcome=current_outcome(row.outcome, row.escalated_at is not None),
            escalated_at=row.escalated_at,
            escalation_reason=row.escalation_reason,
            agent_id=row.assigned_agent_id,
            claimed_at=row.claimed_at,
            ended_at=row.ended_at,
            score=row.score,
        )
    loaded = Loaded(list(facts.values()))
    await _add_message_figures(connection, period, ids, facts, loaded)
    await _add_topics(connection, period, ids, facts)
    votes = await connection.execute(
        select(AnswerFeedback.helpful, func.count())
        .where(AnswerFeedback.conversation_id.in_(ids), AnswerFeedback.helpful.is_not(None))
        .group_by(AnswerFeedback.helpful)
    )
    for helpful, count in votes:
        loaded.votes += int(count)
        loaded.helpful_votes += int(count) if helpful else 0
    return loaded


async def _add_message_figures(
    connection: AsyncConnection,
    period: Period,
    ids: Select[Any],
    facts: dict[int, Facts],
    loaded: Loaded,
) -> None:
    author, at = Message.author, Message.created_at
    bot = author == "bot"

    def first(condition: Any, value: Any = at) -> Any:
        return type_coerce(func.min(case((condition, value))), UTCDateTime)

    per_conversation = (
        select(
            Message.conversation_id,
            Message.agent_id,
            func.sum(case((Message.kind != "callback", 1), else_=0)).label("messages"),
            first(author == "customer").label("first_customer_at"),
            first(author.in_(("bot", "agent"))).label("first_reply_at"),
            first(author == "agent").label("first_agent_at"),
            func.sum(case((bot, 1), else_=0)).label("bot_answers"),
            func.sum(case((bot, Message.confidence))).label("confidence_sum"),
            func.count(case((bot, Message.confidence))).label("confidence_count"),
            func.sum(case((author == "agent", 1), else_=0)).label("agent_replies"),
        )
        # A conversation's messages follow its start: the bound lets the created_at
        # index skip everything older than the period.
        .where(Message.conversation_id.in_(ids), at >= period.start)
        .group_by(Message.conversation_id, Message.agent_id)
    )
    for row in await connection.execute(per_conversation):
        fact = facts.get(row.conversation_id)
        if fact is None:
            continue
        fact.messages += int(row.messages or 0)
        fact.first_customer_at = _earliest(fact.first_customer_at, row.first_customer_at)
        fact.first_reply_at = _earliest(fact.first_reply_at, row.first_reply_at)
        fact.first_agent_at = _earliest(fact.first_agent_at, row.first_agent_at)
        fact.bot_answers += int(row.bot_answers or 0)
        fact.confidence_sum += float(row.confidence_sum or 0.0)
        fact.confidence_count += int(row.confidence_count or 0)
        if row.agent_id is not None and row.agent_replies:
            loaded.replies[row.agent_id] = loaded.replies.get(row.agent_id, 0) + int(
                row.agent_replies
            )


async def _add_topics(
    connection: AsyncConnection, period: Period, ids: Select[Any], facts: dict[int, Facts]
) -> None:
    first_answers = (
        select(func.min(Message.id).label("id"))
        .where(
            Message.conversation_id.in_(ids),
            Message.created_at >= period.start,
            Message.author == "bot",
        )
        .group_by(Message.conversation_id)
        .subquery()
    )
    title = Message.sources[(0, "title")].as_string()
    rows = await connection.execute(
        select(Message.conversation_id, title).join(first_answers, first_answers.c.id == Message.id)
    )
    for conversation_id, topic in rows:
        if topic and conversation_id in facts:
            facts[conversation_id].topic = topic


def _earliest(current: Any, other: Any) -> Any:
    if other is None:
        return current
    return other if current is None or other < current else current
