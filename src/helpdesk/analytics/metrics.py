"""Support metrics over a period, with the industry's definitions (README, "Analytics").

A conversation belongs to the period it was *created* in (UTC, end exclusive).
helpdesk.analytics.facts reads one row per conversation of the period (its outcome,
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
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.analytics import facts as facts_of
from helpdesk.analytics.facts import NO_TOPIC, UNKNOWN, Facts, Period
from helpdesk.analytics.outcome import Outcome
from helpdesk.store.models import Agent

__all__ = ["NO_TOPIC", "UNKNOWN", "Period", "Summary", "compute_summary"]
# Upper bounds (seconds) of the first-response-time histogram; the last bucket is open.
RESPONSE_BUCKETS: tuple[float, ...] = (5, 30, 60, 300, 900, 3600, 14400, 86400)


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


async def compute_summary(
    session: AsyncSession, period: Period, *, language: str | None = None
) -> Summary:
    """The period's metrics; `language` keeps the customers with that language code."""
    loaded = await facts_of.load(session, period, language)
    names = {row.id: row.name for row in await session.execute(select(Agent.id, Agent.name))}
    return _summarize(period, language, loaded, names)


def _summarize(
    period: Period, language: str | None, loaded: facts_of.Loaded, agent_names: dict[int, str]
) -> Summary:
    facts = loaded.facts
    total = len(facts)
    outcomes = Counter(fact.outcome for fact in facts)
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
    bot_answers = sum(fact.bot_answers for fact in facts)
    rated_confidence = sum(fact.confidence_count for fact in facts)
    confidence = sum(fact.confidence_sum for fact in facts)
    resolved_by_bot = outcomes[Outcome.RESOLVED_BOT]
    statuses = _statuses(facts)
    days = _count((fact.created_at.astimezone(UTC).date() for fact in facts), statuses)
    return Summary(
        period=period,
        language=language,
        conversations=total,
        outcomes={outcome.value: outcomes[outcome] for outcome in Outcome},
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
        answer_votes=loaded.votes,
        answer_helpfulness=rate(loaded.helpful_votes, loaded.votes),
        bot_answers=bot_answers,
        mean_confidence=confidence / rated_confidence if rated_confidence else None,
        first_response_seconds_p50=percentile(first_response, 50),
        first_response_seconds_p90=percentile(first_response, 90),
        first_human_response_seconds_p50=percentile(human_response, 50),
        first_human_response_seconds_p90=percentile(human_response, 90),
        resolution_seconds_p50=percentile(resolution, 50),
        resolution_seconds_p90=percentile(resolution, 90),
        first_response_histogram=histogram(first_response),
        by_day=_by_time(days, period, week=False),
        by_week=_by_time(days, period, week=True),
        by_language=_breakdown(_count((fact.language for fact in facts), statuses)),
        by_channel=_breakdown(_count((fact.channel for fact in facts), statuses)),
        by_topic=_breakdown(_count((fact.topic for fact in facts), statuses)),
        by_agent=_by_agent(facts, loaded.replies, agent_names),
    )


def seconds(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds()


def histogram(values: Sequence[float]) -> list[Bucket]:
    counts = [0] * (len(RESPONSE_BUCKETS) + 1)
    for value in values:
        # bisect_left: the first bound the value does not exceed, i.e. value <= upper.
        counts[bisect_left(RESPONSE_BUCKETS, value)] += 1
    uppers: list[float | None] = [*RESPONSE_BUCKETS, None]
    return [Bucket(upper, count) for upper, count in zip(uppers, counts, strict=True)]


# What the tables count of a conversation: (outcome, escalated, score). The tables
# count these small tuples with Counter (C speed) and then add up the few distinct
# ones, rather than walking the conversations once per table in Python.
_Status = tuple[Outcome, bool, int | None]
_K = TypeVar("_K")
_CONVERSATIONS, _BOT, _AGENT, _ESCALATED, _ABANDONED, _RATINGS, _SATISFIED = range(7)
_COUNTED = {
    Outcome.RESOLVED_BOT: _BOT,
    Outcome.RESOLVED_AGENT: _AGENT,
    Outcome.ABANDONED: _ABANDONED,
}


def _statuses(facts: list[Facts]) -> list[_Status]:
    return [(fact.outcome, fact.escalated_at is not None, fact.score) for fact in facts]


def _count(keys: Iterable[_K], statuses: list[_Status]) -> dict[_K, list[int]]:
    """Counters per key, in the order the keys first appear."""
    groups: dict[_K, list[int]] = {}
    for (key, (outcome, escalated, score)), n in Counter(zip(keys, statuses, strict=True)).items():
        counts = groups.get(key)
        if counts is None:
            counts = groups[key] = [0] * 7
        counts[_CONVERSATIONS] += n
        if outcome in _COUNTED:
            counts[_COUNTED[outcome]] += n
        if escalated:
            counts[_ESCALATED] += n
        if score is not None:
            counts[_RATINGS] += n
            if score >= 4:
                counts[_SATISFIED] += n
    return groups


def _by_time(days: dict[date, list[int]], period: Period, *, week: bool) -> list[DayRow]:
    def key(day: date) -> date:
        return day - timedelta(days=day.weekday()) if week else day

    groups: dict[date, list[int]] = {}
    for day, counts in days.items():
        group = groups.setdefault(key(day), [0] * 7)
        for index, count in enumerate(counts):
            group[index] += count
    # Every day (week) of the period gets a row, so charts show the quiet ones as zero.
    first = key(period.start.astimezone(UTC).date())
    last = key((period.end - timedelta(microseconds=1)).astimezone(UTC).date())
    step = timedelta(days=7 if week else 1)
    rows = []
    day = first
    while day <= last:
        counts = groups.get(day) or [0] * 7
        total, escalated = counts[_CONVERSATIONS], counts[_ESCALATED]
        rows.append(
            DayRow(
                day=day,
                conversations=total,
                resolved_by_bot=counts[_BOT],
                resolved_by_agent=counts[_AGENT],
                escalated=escalated,
                abandoned=counts[_ABANDONED],
                ratings=counts[_RATINGS],
                csat=rate(counts[_SATISFIED], counts[_RATINGS]),
                automated_resolution_rate=rate(counts[_BOT], total),
                escalation_rate=rate(escalated, total),
            )
        )
        day += step
    return rows


def _breakdown(groups: dict[str, list[int]]) -> list[Breakdown]:
    rows = [
        Breakdown(
            key=name,
            conversations=counts[_CONVERSATIONS],
            resolved_by_bot=counts[_BOT],
            escalated=counts[_ESCALATED],
            automated_resolution_rate=rate(counts[_BOT], counts[_CONVERSATIONS]),
            escalation_rate=rate(counts[_ESCALATED], counts[_CONVERSATIONS]),
            ratings=counts[_RATINGS],
            csat=rate(counts[_SATISFIED], counts[_RATINGS]),
        )
        for name, counts in groups.items()
    ]
    rows.sort(key=lambda row: (-row.conversations, row.key))
    return rows


def _by_agent(facts: list[Facts], replies: dict[int, int], names: dict[int, str]) -> list[AgentRow]:
    groups: dict[int, list[Facts]] = defaultdict(list)
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
