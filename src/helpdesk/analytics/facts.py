"""Reading a period's conversations for the metrics: a few aggregate queries.

One query for the conversations themselves (outcome, rating, language), one
GROUP BY over the period's messages (per conversation and agent: message
counts, first customer message, first reply, first agent reply, confidence
sums, agent replies, and the top source of the first bot answer, looked up by
its id), and one for the answer votes. Joined here, in Python: a single SQL
statement joining the aggregate to the conversations made PostgreSQL build it
once per parallel worker, which cost more than the whole of this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, Select, case, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.types import TypeEngine

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
# Outcome(value) goes through the Enum machinery: noticeable over thousands of rows.
_OUTCOMES = {outcome.value: outcome for outcome in Outcome}


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


@dataclass(slots=True)
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
    # Core rows through the session's connection: the ORM's row loading is a third of
    # the time for plain column tuples like these.
    connection = await session.connection()
    moment = _moment_type(connection)
    conversations = (
        select(
            Conversation.id,
            type_coerce(Conversation.created_at, moment),
            Conversation.channel,
            Customer.language_code,
            type_coerce(Conversation.escalated_at, moment),
            Conversation.escalation_reason,
            Conversation.assigned_agent_id,
            type_coerce(Conversation.claimed_at, moment),
            ConversationOutcome.outcome,
            type_coerce(ConversationOutcome.ended_at, moment),
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
    result = await connection.execute(conversations)
    for (
        id_,
        created_at,
        channel,
        language_code,
        escalated_at,
        escalation_reason,
        agent_id,
        claimed_at,
        outcome,
        ended_at,
        score,
    ) in result.all():
        facts[id_] = Facts(
            id=id_,
            created_at=created_at,
            channel=channel,
            language=language_code or UNKNOWN,
            outcome=_OUTCOMES[outcome]
            if outcome is not None
            else current_outcome(None, escalated_at is not None),
            escalated_at=escalated_at,
            escalation_reason=escalation_reason,
            agent_id=agent_id,
            claimed_at=claimed_at,
            ended_at=ended_at,
            score=score,
        )
    loaded = Loaded(list(facts.values()))
    await _add_message_figures(connection, period, ids, moment, facts, loaded)
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
    moment: TypeEngine[datetime],
    facts: dict[int, Facts],
    loaded: Loaded,
) -> None:
    author, at = Message.author, Message.created_at
    bot = author == "bot"

    def first(condition: Any, value: Any = at) -> Any:
        return type_coerce(func.min(case((condition, value))), moment)

    per_group = (
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
            func.min(case((bot, Message.id))).label("first_answer_id"),
        )
        # A conversation's messages follow its start: the bound lets the created_at
        # index skip everything older than the period.
        .where(Message.conversation_id.in_(ids), at >= period.start)
        .group_by(Message.conversation_id, Message.agent_id)
        .subquery("per_group")
    )
    # The topic rides along as a primary-key lookup of each group's first bot answer:
    # a separate query for it scanned the period's messages a second time.
    answer = aliased(Message)
    title = answer.sources[(0, "title")].as_string()
    figures = select(*per_group.c, title).outerjoin(
        answer, answer.id == per_group.c.first_answer_id
    )
    first_answers: dict[int, int] = {}
    replies = loaded.replies
    for (
        conversation_id,
        agent_id,
        messages,
        first_customer_at,
        first_reply_at,
        first_agent_at,
        bot_answers,
        confidence_sum,
        confidence_count,
        agent_replies,
        first_answer_id,
        topic,
    ) in (await connection.execute(figures)).all():
        fact = facts.get(conversation_id)
        if fact is None:
            continue
        fact.messages += int(messages or 0)
        fact.first_customer_at = _earliest(fact.first_customer_at, first_customer_at)
        fact.first_reply_at = _earliest(fact.first_reply_at, first_reply_at)
        fact.first_agent_at = _earliest(fact.first_agent_at, first_agent_at)
        fact.bot_answers += int(bot_answers or 0)
        fact.confidence_sum += float(confidence_sum or 0.0)
        fact.confidence_count += int(confidence_count or 0)
        if agent_id is not None and agent_replies:
            replies[agent_id] = replies.get(agent_id, 0) + int(agent_replies)
        if first_answer_id is not None:
            # Bot answers normally carry no agent, but the earliest across groups decides.
            earliest = first_answers.get(conversation_id)
            if earliest is None or first_answer_id < earliest:
                first_answers[conversation_id] = first_answer_id
                fact.topic = topic or NO_TOPIC


def _moment_type(connection: AsyncConnection) -> TypeEngine[datetime]:
    """The result type of the timestamps read here."""
    if connection.dialect.driver == "asyncpg":
        # asyncpg already hands back aware UTC datetimes: UTCDateTime would only copy
        # each of them, tens of thousands per summary. SQLite's need converting.
        return DateTime(timezone=True)
    return UTCDateTime()


def _earliest(current: Any, other: Any) -> Any:
    if other is None:
        return current
    return other if current is None or other < current else current
