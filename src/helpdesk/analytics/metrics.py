"""Support metrics over a period, with the industry's definitions (README, "Analytics").

A conversation belongs to the period it was *created* in (UTC, end exclusive).
One aggregate query returns a row per conversation of the period (its outcome,
timings, rating, message count, first answer's top source); everything else is
counted from those rows here, so SQLite and PostgreSQL give the same figures.

Definitions (see also the README):
- CSAT: share of ratings that are 4 or 5, over all ratings (1-5).
- Automated resolution rate: conversations resolved by the bot ÷ all conversations.
- Escalation rate: conversations handed to a person (escalated_at set) ÷ all.
- Answer helpfulness: 👍 ÷ (👍 + 👎) on bot answers.
- First response time: first customer message → first reply by the bot or an agent.
- First human response time: escalation → first agent reply.
- Resolution time: conversation start → resolution (bot or agent).
- Percentiles (p50, p90) by nearest rank: the smallest value with at least p % of
  the values at or below it.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, case, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from helpdesk.analytics.outcome import Outcome, current_outcome
from helpdesk.store.models import (
    Agent,
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
# Upper bounds (seconds) of the first-response-time histogram; the last bucket is open.
RESPONSE_BUCKETS: tuple[float, ...] = (5, 30, 60, 300, 900, 3600, 14400, 86400)


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


@dataclass(frozen=True)
class DayRow:
    """One day (by_day) or one ISO week starting Monday (by_week) of the period."""

    day: date
    conversations: int
    resolved_by_bot: int
    resolved_by_agent: int
    escalated: int  # handed to a person that day, whatever happened next
    abandoned: int
    ratings: int
    csat: float | None
    automated_resolution_rate: float | None
    escalation_rate: float | None


@dataclass(frozen=True)
class Breakdown:
    """The headline rates for one language, channel or topic."""

    key: str
    conversations: int
    resolved_by_bot: int
    escalated: int
    automated_resolution_rate: float | None
    escalation_rate: float | None
    ratings: int
    csat: float | None


@dataclass(frozen=True)
class AgentRow:
    """One agent's work on the period's conversations."""

    agent_id: int
    name: str
    replies: int  # messages the agent sent in those conversations
    conversations: int  # conversations assigned to the agent
    resolved: int  # of which the agent resolved
    # Handling time: claim → resolution, of the conversations the agent resolved.
    handling_seconds_p50: float | None
    handling_seconds_p90: float | None
    ratings: int
    csat: float | None


@dataclass(frozen=True)
class Bucket:
    """Histogram bar: values in (previous bound, upper]; upper None = no bound."""

    upper_seconds: float | None
    count: int


@dataclass(frozen=True)
class Summary:
    """Everything the reports show about one period (optionally one language)."""

    period: Period
    language: str | None
    conversations: int
    # Count per Outcome value (resolved_bot, resolved_agent, abandoned, escalated, open).
    outcomes: dict[str, int]
    messages: int  # customer, bot, agent and system messages (not button presses)
    messages_per_conversation: float | None
    resolved_by_bot: int
    automated_resolution_rate: float | None
    escalations: int
    escalation_rate: float | None
    escalation_reasons: dict[str, int]  # reason → conversations, most frequent first
    ratings: int
    csat: float | None
    rating_distribution: dict[int, int]  # score 1-5 → ratings
    answer_votes: int
    answer_helpfulness: float | None
    bot_answers: int
    mean_confidence: float | None  # of the bot's answers
    first_response_seconds_p50: float | None
    first_response_seconds_p90: float | None
    first_human_response_seconds_p50: float | None
    first_human_response_seconds_p90: float | None
    resolution_seconds_p50: float | None
    resolution_seconds_p90: float | None
    first_response_histogram: list[Bucket]
    by_day: list[DayRow]
    by_week: list[DayRow]
    by_language: list[Breakdown]
    by_channel: list[Breakdown]
    by_topic: list[Breakdown]  # topic = top source article of the first bot answer
    by_agent: list[AgentRow]


@dataclass
class _Facts:
    """One conversation of the period, as the aggregate query returns it."""

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
    messages: int
    first_customer_at: datetime | None
    first_reply_at: datetime | None
    first_agent_at: datetime | None
    topic: str


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0-100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def csat(scores: Iterable[int]) -> tuple[int, float | None]:
    """(ratings, share of 4-5)."""
    given = [score for score in scores]
    return len(given), rate(sum(1 for score in given if score >= 4), len(given))


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


async def compute_summary(
    session: AsyncSession, period: Period, *, language: str | None = None
) -> Summary:
    """The period's metrics; `language` keeps the customers with that language code."""
    facts = await _load_facts(session, period, language)
    ids = period_conversations(period, language).subquery()
    votes = (
        await session.execute(
            select(AnswerFeedback.helpful, func.count())
            .where(
                AnswerFeedback.conversation_id.in_(select(ids.c.id)),
                AnswerFeedback.helpful.is_not(None),
            )
            .group_by(AnswerFeedback.helpful)
        )
    ).all()
    helpful = {bool(flag): int(count) for flag, count in votes}
    answers = (
        await session.execute(
            select(func.count(), func.avg(Message.confidence)).where(
                Message.conversation_id.in_(select(ids.c.id)), Message.author == "bot"
            )
        )
    ).one()
    replies = (
        await session.execute(
            select(Message.agent_id, func.count())
            .where(
                Message.conversation_id.in_(select(ids.c.id)),
                Message.author == "agent",
                Message.agent_id.is_not(None),
            )
            .group_by(Message.agent_id)
        )
    ).all()
    names = {row.id: row.name for row in await session.execute(select(Agent.id, Agent.name))}
    return _summarize(
        period,
        language,
        facts,
        helpful_votes=helpful.get(True, 0),
        votes=sum(helpful.values()),
        bot_answers=int(answers[0] or 0),
        mean_confidence=float(answers[1]) if answers[1] is not None else None,
        replies={agent: int(count) for agent, count in replies if agent is not None},
        agent_names=names,
    )


async def _load_facts(session: AsyncSession, period: Period, language: str | None) -> list[_Facts]:
    in_period = period_conversations(period, language).subquery()
    when = Message.created_at
    per_conversation = (
        select(
            Message.conversation_id.label("conversation_id"),
            func.sum(case((Message.kind != "callback", 1), else_=0)).label("messages"),
            type_coerce(func.min(case((Message.author == "customer", when))), UTCDateTime).label(
                "first_customer_at"
            ),
            type_coerce(
                func.min(case((Message.author.in_(("bot", "agent")), when))), UTCDateTime
            ).label("first_reply_at"),
            type_coerce(func.min(case((Message.author == "agent", when))), UTCDateTime).label(
                "first_agent_at"
            ),
            func.min(case((Message.author == "bot", Message.id))).label("first_bot_id"),
        )
        .where(Message.conversation_id.in_(select(in_period.c.id)))
        .group_by(Message.conversation_id)
        .subquery()
    )
    first_bot = aliased(Message)
    query = (
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
            per_conversation.c.messages,
            per_conversation.c.first_customer_at,
            per_conversation.c.first_reply_at,
            per_conversation.c.first_agent_at,
            first_bot.sources,
        )
        .join(in_period, in_period.c.id == Conversation.id)
        .join(Customer, Customer.id == Conversation.customer_id)
        .outerjoin(ConversationOutcome, ConversationOutcome.conversation_id == Conversation.id)
        .outerjoin(Rating, Rating.conversation_id == Conversation.id)
        .outerjoin(per_conversation, per_conversation.c.conversation_id == Conversation.id)
        .outerjoin(first_bot, and_(first_bot.id == per_conversation.c.first_bot_id))
        .order_by(Conversation.id)
    )
    facts = []
    for row in (await session.execute(query)).all():
        facts.append(
            _Facts(
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
                messages=int(row.messages or 0),
                first_customer_at=row.first_customer_at,
                first_reply_at=row.first_reply_at,
                first_agent_at=row.first_agent_at,
                topic=topic_of(row.sources),
            )
        )
    return facts


def topic_of(sources: Any) -> str:
    """The title (or id) of an answer's best source article."""
    if not sources:
        return NO_TOPIC
    best = sources[0]
    return str(best.get("title") or best.get("article_id") or NO_TOPIC)


def _summarize(
    period: Period,
    language: str | None,
    facts: list[_Facts],
    *,
    helpful_votes: int,
    votes: int,
    bot_answers: int,
    mean_confidence: float | None,
    replies: dict[int, int],
    agent_names: dict[int, str],
) -> Summary:
    total = len(facts)
    outcomes = Counter(fact.outcome.value for fact in facts)
    escalated = [fact for fact in facts if fact.escalated_at is not None]
    reasons = Counter(fact.escalation_reason or UNKNOWN for fact in escalated)
    scores = [fact.score for fact in facts if fact.score is not None]
    ratings, satisfaction = csat(scores)
    first_response = [
        seconds(fact.first_customer_at, fact.first_reply_at)
        for fact in facts
        if fact.first_customer_at and fact.first_reply_at
    ]
    human_response = [
        seconds(fact.escalated_at, fact.first_agent_at)
        for fact in escalated
        if fact.escalated_at and fact.first_agent_at and fact.first_agent_at >= fact.escalated_at
    ]
    resolution = [
        seconds(fact.created_at, fact.ended_at)
        for fact in facts
        if fact.ended_at and fact.outcome in (Outcome.RESOLVED_BOT, Outcome.RESOLVED_AGENT)
    ]
    messages = sum(fact.messages for fact in facts)
    resolved_by_bot = outcomes[Outcome.RESOLVED_BOT.value]
    return Summary(
        period=period,
        language=language,
        conversations=total,
        outcomes={outcome.value: outcomes[outcome.value] for outcome in Outcome},
        messages=messages,
        messages_per_conversation=messages / total if total else None,
        resolved_by_bot=resolved_by_bot,
        automated_resolution_rate=rate(resolved_by_bot, total),
        escalations=len(escalated),
        escalation_rate=rate(len(escalated), total),
        escalation_reasons=dict(reasons.most_common()),
        ratings=ratings,
        csat=satisfaction,
        rating_distribution={score: scores.count(score) for score in range(1, 6)},
        answer_votes=votes,
        answer_helpfulness=rate(helpful_votes, votes),
        bot_answers=bot_answers,
        mean_confidence=mean_confidence,
        first_response_seconds_p50=percentile(first_response, 50),
        first_response_seconds_p90=percentile(first_response, 90),
        first_human_response_seconds_p50=percentile(human_response, 50),
        first_human_response_seconds_p90=percentile(human_response, 90),
        resolution_seconds_p50=percentile(resolution, 50),
        resolution_seconds_p90=percentile(resolution, 90),
        first_response_histogram=histogram(first_response),
        by_day=_by_time(facts, period, week=False),
        by_week=_by_time(facts, period, week=True),
        by_language=_breakdown(facts, lambda fact: fact.language),
        by_channel=_breakdown(facts, lambda fact: fact.channel),
        by_topic=_breakdown(facts, lambda fact: fact.topic),
        by_agent=_by_agent(facts, replies, agent_names),
    )


def seconds(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds()


def histogram(values: Sequence[float]) -> list[Bucket]:
    counts = [0] * (len(RESPONSE_BUCKETS) + 1)
    for value in values:
        index = next(
            (i for i, upper in enumerate(RESPONSE_BUCKETS) if value <= upper),
            len(RESPONSE_BUCKETS),
        )
        counts[index] += 1
    uppers: list[float | None] = [*RESPONSE_BUCKETS, None]
    return [Bucket(upper, count) for upper, count in zip(uppers, counts, strict=True)]


def _by_time(facts: list[_Facts], period: Period, *, week: bool) -> list[DayRow]:
    def key(moment: datetime) -> date:
        day = moment.astimezone(UTC).date()
        return day - timedelta(days=day.weekday()) if week else day

    groups: dict[date, list[_Facts]] = defaultdict(list)
    for fact in facts:
        groups[key(fact.created_at)].append(fact)
    # Every day (week) of the period gets a row, so charts show the quiet ones as zero.
    first, last = key(period.start), key(period.end - timedelta(microseconds=1))
    step = timedelta(days=7 if week else 1)
    rows = []
    day = first
    while day <= last:
        group = groups.get(day, [])
        outcomes = Counter(fact.outcome for fact in group)
        ratings, satisfaction = csat(fact.score for fact in group if fact.score is not None)
        escalated = sum(1 for fact in group if fact.escalated_at is not None)
        rows.append(
            DayRow(
                day=day,
                conversations=len(group),
                resolved_by_bot=outcomes[Outcome.RESOLVED_BOT],
                resolved_by_agent=outcomes[Outcome.RESOLVED_AGENT],
                escalated=escalated,
                abandoned=outcomes[Outcome.ABANDONED],
                ratings=ratings,
                csat=satisfaction,
                automated_resolution_rate=rate(outcomes[Outcome.RESOLVED_BOT], len(group)),
                escalation_rate=rate(escalated, len(group)),
            )
        )
        day += step
    return rows


def _breakdown(facts: list[_Facts], key: Any) -> list[Breakdown]:
    groups: dict[str, list[_Facts]] = defaultdict(list)
    for fact in facts:
        groups[key(fact)].append(fact)
    rows = []
    for name, group in groups.items():
        bot = sum(1 for fact in group if fact.outcome is Outcome.RESOLVED_BOT)
        escalated = sum(1 for fact in group if fact.escalated_at is not None)
        ratings, satisfaction = csat(fact.score for fact in group if fact.score is not None)
        rows.append(
            Breakdown(
                key=name,
                conversations=len(group),
                resolved_by_bot=bot,
                escalated=escalated,
                automated_resolution_rate=rate(bot, len(group)),
                escalation_rate=rate(escalated, len(group)),
                ratings=ratings,
                csat=satisfaction,
            )
        )
    rows.sort(key=lambda row: (-row.conversations, row.key))
    return rows


def _by_agent(
    facts: list[_Facts], replies: dict[int, int], names: dict[int, str]
) -> list[AgentRow]:
    groups: dict[int, list[_Facts]] = defaultdict(list)
    for fact in facts:
        if fact.agent_id is not None:
            groups[fact.agent_id].append(fact)
    rows = []
    for agent_id in sorted(set(groups) | set(replies)):
        group = groups.get(agent_id, [])
        resolved = [fact for fact in group if fact.outcome is Outcome.RESOLVED_AGENT]
        handling = [
            seconds(fact.claimed_at, fact.ended_at)
            for fact in resolved
            if fact.claimed_at and fact.ended_at
        ]
        ratings, satisfaction = csat(fact.score for fact in group if fact.score is not None)
        rows.append(
            AgentRow(
                agent_id=agent_id,
                name=names.get(agent_id, f"agent {agent_id}"),
                replies=replies.get(agent_id, 0),
                conversations=len(group),
                resolved=len(resolved),
                handling_seconds_p50=percentile(handling, 50),
                handling_seconds_p90=percentile(handling, 90),
                ratings=ratings,
                csat=satisfaction,
            )
        )
    return rows
