"""Metrics on a hand-checked week, on SQLite and PostgreSQL.

The week (see history.py), 1-7 November 2026:
  C1 en  Nov 1 10:00  bot answers in 2 s, 👍, resolved by the bot, rated 5
  C2 en  Nov 1 12:00  bot answers in 4 s (👎), again 63 s after start, resolved by the bot, rated 4
  C3 de  Nov 2 09:00  bot in 10 s, low confidence → Alice claims 09:05, replies 09:06 and
                      09:10, resolves 09:20, rated 2
  C4 en  Nov 3 15:00  explicit request at 15:00:01 → Bob claims 15:30, replies 15:31,
                      resolves 16:00
  C5 de  Nov 5 08:00  bot in 6 s, keyword escalation, abandoned
  C6 en  Nov 6 20:00  bot in 8 s, still open
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.analytics.metrics import Bucket, Period, compute_summary, percentile
from helpdesk.store.db import create_engine, session_factory
from tests.analytics.history import at, build_week

WEEK = Period(at(1, 0), at(8, 0))
Week = tuple[async_sessionmaker[AsyncSession], dict[str, int]]


@pytest.fixture
async def week(database_url: str) -> AsyncIterator[Week]:
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    async with sessions.begin() as session:
        agents = await build_week(session)
    yield sessions, agents
    await engine.dispose()


async def test_headline_figures_of_the_week(week: Week) -> None:
    sessions, _ = week
    async with sessions() as session:
        s = await compute_summary(session, WEEK)

    assert s.conversations == 6  # the evening before and the 8th are outside
    assert s.outcomes == {
        "resolved_bot": 2,
        "resolved_agent": 2,
        "abandoned": 1,
        "escalated": 0,
        "open": 1,
    }
    assert s.automated_resolution_rate == pytest.approx(2 / 6)
    assert s.escalations == 3
    assert s.escalation_rate == pytest.approx(0.5)
    assert s.escalation_reasons == {"low_confidence": 1, "explicit_request": 1, "keyword": 1}
    # Ratings 5, 4, 2: two of three are 4-5.
    assert (s.ratings, s.csat) == (3, pytest.approx(2 / 3))
    assert s.rating_distribution == {1: 0, 2: 1, 3: 0, 4: 1, 5: 1}
    assert (s.answer_votes, s.answer_helpfulness) == (2, pytest.approx(0.5))
    # 2 + 4 + 4 + 3 + 2 + 2 messages; C6's button press does not count.
    assert s.messages == 17
    assert s.messages_per_conversation == pytest.approx(17 / 6)
    assert s.bot_answers == 6
    assert s.mean_confidence == pytest.approx((0.9 + 0.8 + 0.7 + 0.2 + 0.6 + 0.5) / 6)


async def test_response_and_resolution_times(week: Week) -> None:
    sessions, _ = week
    async with sessions() as session:
        s = await compute_summary(session, WEEK)
    # First replies: 2, 4, 10, 1860 (Bob; the system notice is not a reply), 6, 8 s.
    assert s.first_response_seconds_p50 == 6  # 3rd of 6 sorted
    assert s.first_response_seconds_p90 == 1860
    # Escalation → first agent reply: 350 s (C3), 1859 s (C4); C5 never got one.
    assert (s.first_human_response_seconds_p50, s.first_human_response_seconds_p90) == (350, 1859)
    # Start → resolution: 2 s, 63 s, 1200 s, 3600 s (abandoned and open ones excluded).
    assert (s.resolution_seconds_p50, s.resolution_seconds_p90) == (63, 3600)
    assert s.first_response_histogram[:6] == [
        Bucket(5, 2),
        Bucket(30, 3),
        Bucket(60, 0),
        Bucket(300, 0),
        Bucket(900, 0),
        Bucket(3600, 1),
    ]
    assert sum(bucket.count for bucket in s.first_response_histogram) == 6


async def test_by_day_and_week(week: Week) -> None:
    sessions, _ = week
    async with sessions() as session:
        s = await compute_summary(session, WEEK)
    assert [row.day for row in s.by_day] == [date(2026, 11, d) for d in range(1, 8)]
    assert [row.conversations for row in s.by_day] == [2, 1, 1, 0, 1, 1, 0]
    assert [row.resolved_by_bot for row in s.by_day] == [2, 0, 0, 0, 0, 0, 0]
    assert [row.escalated for row in s.by_day] == [0, 1, 1, 0, 1, 0, 0]
    assert [row.abandoned for row in s.by_day] == [0, 0, 0, 0, 1, 0, 0]
    assert [row.csat for row in s.by_day] == [1.0, 0.0, None, None, None, None, None]
    # 1 November 2026 is a Sunday: its ISO week starts on Monday 26 October.
    assert [(row.day, row.conversations) for row in s.by_week] == [
        (date(2026, 10, 26), 2),
        (date(2026, 11, 2), 4),
    ]


async def test_by_language_topic_channel_and_agent(week: Week) -> None:
    sessions, agents = week
    async with sessions() as session:
        s = await compute_summary(session, WEEK)
    en, de = s.by_language
    assert (en.key, en.conversations, en.resolved_by_bot, en.escalated) == ("en", 4, 2, 1)
    assert (en.ratings, en.csat) == (2, 1.0)
    assert (de.key, de.conversations, de.escalation_rate, de.csat) == ("de", 2, 1.0, 0.0)
    assert [(row.key, row.conversations) for row in s.by_topic] == [
        ("Shipping", 3),
        ("Returns", 2),
        ("(no answer)", 1),
    ]
    assert [(row.key, row.conversations) for row in s.by_channel] == [("telegram", 6)]
    alice, bob = s.by_agent
    assert (alice.agent_id, alice.name, alice.replies, alice.conversations) == (
        agents["alice"],
        "Alice",
        2,
        1,
    )
    assert (alice.resolved, alice.handling_seconds_p50, alice.csat) == (1, 900, 0.0)
    assert (bob.name, bob.replies, bob.handling_seconds_p50, bob.ratings, bob.csat) == (
        "Bob",
        1,
        1800,
        0,
        None,
    )


async def test_a_language_filter_keeps_its_customers_only(week: Week) -> None:
    sessions, _ = week
    async with sessions() as session:
        s = await compute_summary(session, WEEK, language="de")
    assert s.conversations == 2
    assert s.escalation_reasons == {"low_confidence": 1, "keyword": 1}
    assert (s.ratings, s.csat) == (1, 0.0)
    assert s.answer_votes == 0
    assert [row.name for row in s.by_agent] == ["Alice"]


async def test_an_empty_period_has_no_rates(week: Week) -> None:
    sessions, _ = week
    async with sessions() as session:
        s = await compute_summary(session, WEEK.previous().previous())
    assert s.conversations == 0
    assert s.automated_resolution_rate is None and s.csat is None
    assert s.first_response_seconds_p50 is None
    assert len(s.by_day) == 7 and all(row.conversations == 0 for row in s.by_day)


def test_periods_and_percentiles() -> None:
    assert WEEK.previous() == Period(at(25, 0, month=10), at(1, 0))
    assert WEEK.length == timedelta(days=7)
    with pytest.raises(ValueError):
        Period(at(2, 0), at(1, 0))
    assert percentile([5, 1, 3, 2, 4], 50) == 3
    assert percentile([5, 1, 3, 2, 4], 90) == 5
    assert percentile([7], 90) == 7
    assert percentile([], 50) is None
