"""The summary's tables where the hand-checked week leaves room for doubt: which bot
answer names a conversation's topic, weeks added up from days, histogram bounds.
On SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.analytics.metrics import RESPONSE_BUCKETS, Period, compute_summary, histogram
from helpdesk.store.db import create_engine, session_factory
from tests.analytics.history import RETURNS, SHIPPING, Builder, at, build_week

WEEK = Period(at(1, 0), at(8, 0))


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    yield session_factory(engine)
    await engine.dispose()


async def test_the_topic_is_the_top_source_of_the_first_bot_answer(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as session:
        b = Builder(session)
        alice = await b.agent("Alice")
        customer = await b.customer(201, "en")
        # A later answer citing another article does not change the topic.
        later = await b.conversation(customer, at(2, 10))
        await b.say(later, at(2, 10))
        await b.bot(later, at(2, 10, 0, 5), 0.8, RETURNS)
        await b.say(later, at(2, 10, 1))
        await b.bot(later, at(2, 10, 1, 5), 0.8, SHIPPING)
        # A first answer without sources leaves the conversation without a topic.
        unsourced = await b.conversation(customer, at(3, 10))
        await b.say(unsourced, at(3, 10))
        await b.bot(unsourced, at(3, 10, 0, 5), 0.3, [])
        await b.bot(unsourced, at(3, 10, 1), 0.8, SHIPPING)
        # The first answer counts even when it is filed under an agent.
        filed = await b.conversation(customer, at(4, 10))
        await b.say(filed, at(4, 10))
        await b.message(
            filed, at(4, 10, 0, 5), "bot", agent_id=alice.id, sources=RETURNS, text="answer"
        )
        await b.bot(filed, at(4, 10, 1), 0.8, SHIPPING)
        unanswered = await b.conversation(customer, at(5, 10))
        await b.say(unanswered, at(5, 10))

    async with sessions() as session:
        s = await compute_summary(session, WEEK)

    assert [(row.key, row.conversations) for row in s.by_topic] == [
        ("(no answer)", 2),
        ("Returns", 2),
    ]
    assert s.bot_answers == 6


async def test_weeks_add_up_their_days(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as session:
        await build_week(session)
    async with sessions() as session:
        s = await compute_summary(session, WEEK)

    # C1, C2 (Sunday 1 November) and C3-C6 (the week from Monday 2 November).
    assert [
        (
            row.day,
            row.conversations,
            row.resolved_by_bot,
            row.resolved_by_agent,
            row.escalated,
            row.abandoned,
            row.ratings,
            row.csat,
        )
        for row in s.by_week
    ] == [
        (date(2026, 10, 26), 2, 2, 0, 0, 0, 2, 1.0),
        (date(2026, 11, 2), 4, 0, 2, 3, 1, 1, 0.0),
    ]
    assert [row.escalation_rate for row in s.by_week] == [0.0, 0.75]


def test_a_response_on_a_bucket_bound_falls_in_that_bucket() -> None:
    assert RESPONSE_BUCKETS[0] == 5 and RESPONSE_BUCKETS[-1] == 86400
    counts = [bucket.count for bucket in histogram([0, 5, 5.5, 86400, 86400.5])]
    assert counts == [2, 1, 0, 0, 0, 0, 0, 1, 1]
