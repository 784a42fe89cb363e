"""Retention (`helpdesk purge`) and deleting a customer on request (`customers forget`)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.analytics.privacy import forget, parse_age, purge
from helpdesk.store.models import (
    AnswerFeedback,
    Conversation,
    Customer,
    Message,
    OutboxItem,
    Rating,
    RawUpdate,
)
from helpdesk.store.types import utcnow
from tests.analytics.history import Builder

HELPDESK = Path(sys.executable).with_name("helpdesk")
Sessions = async_sessionmaker[AsyncSession]


async def chat_history(sessions: Sessions, external_id: int, days_ago: int) -> int:
    """A customer's conversation `days_ago` days old: update, messages, outbox, votes, rating."""
    when = utcnow() - timedelta(days=days_ago)
    async with sessions.begin() as session:
        b = Builder(session)
        customer = await session.scalar(
            select(Customer).where(Customer.external_id == external_id)
        ) or await b.customer(external_id, "en")
        update = await b.add(
            RawUpdate(
                channel="telegram",
                update_id=external_id * 1000 + days_ago,
                chat_id=external_id,
                user_id=external_id,
                kind="text",
                text="my email is ada@example.com",
                payload={"update_id": 1},
                status="processed",
                received_at=when,
            )
        )
        conversation = await b.conversation(customer, when)
        await b.message(
            conversation, when, "customer", direction="in", update_id=update.id, text="hello"
        )
        answer = await b.bot(conversation, when + timedelta(seconds=2), 0.9, [])
        await b.add(
            OutboxItem(
                channel="telegram",
                chat_id=external_id,
                message_id=answer.id,
                dedup_key=f"reply:{answer.id}:0",
                body="answer",
                created_at=when,
            )
        )
        await b.vote(answer, True)
        await b.rating(conversation, 5)
        return customer.id


async def count(sessions: Sessions, table: type, *where: object) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(table).where(*where)) or 0)


async def test_purge_deletes_what_is_older_than_the_retention(sessions: Sessions) -> None:
    customer = await chat_history(sessions, 501, days_ago=400)
    await chat_history(sessions, 501, days_ago=3)

    deleted = await purge(sessions, timedelta(days=365))

    assert (deleted.conversations, deleted.messages, deleted.updates) == (1, 2, 1)
    assert await count(sessions, Conversation) == 1
    assert await count(sessions, Message) == 2
    assert await count(sessions, RawUpdate) == 1
    assert await count(sessions, OutboxItem) == 1
    assert await count(sessions, Rating) == 1
    assert await count(sessions, AnswerFeedback) == 1
    # The customer (and their consent) stays.
    assert await count(sessions, Customer, Customer.id == customer) == 1


async def test_forget_deletes_one_customer_everywhere(sessions: Sessions) -> None:
    ada = await chat_history(sessions, 601, days_ago=10)
    await chat_history(sessions, 601, days_ago=1)
    bob = await chat_history(sessions, 602, days_ago=1)

    deleted = await forget(sessions, ada)

    assert deleted is not None
    assert (deleted.conversations, deleted.messages, deleted.updates) == (2, 4, 2)
    assert await count(sessions, Customer) == 1
    assert await count(sessions, Conversation, Conversation.customer_id == ada) == 0
    assert await count(sessions, RawUpdate, RawUpdate.user_id == 601) == 0
    assert await count(sessions, OutboxItem, OutboxItem.chat_id == 601) == 0
    assert await count(sessions, Rating, Rating.customer_id == ada) == 0
    # Bob is untouched.
    assert await count(sessions, Conversation, Conversation.customer_id == bob) == 1
    assert await count(sessions, Message) == 2
    assert await count(sessions, RawUpdate) == 1
    assert await forget(sessions, ada) is None


async def test_the_commands(database_url: str, sessions: Sessions) -> None:
    ada = await chat_history(sessions, 701, days_ago=40)
    await chat_history(sessions, 702, days_ago=40)
    env = {**os.environ, "HELPDESK_DATABASE_URL": database_url}

    def helpdesk(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(HELPDESK), *args], env=env, capture_output=True, text=True, timeout=120
        )

    forgot = helpdesk("customers", "forget", str(ada))
    assert forgot.returncode == 0, forgot.stderr
    assert "1 conversations" in forgot.stdout
    assert helpdesk("customers", "forget", str(ada)).returncode == 1

    assert helpdesk("purge", "--older-than", "soon").returncode == 2
    kept = helpdesk("purge", "--older-than", "365d")
    assert kept.returncode == 0, kept.stderr
    assert "purged 0 conversations" in kept.stdout
    purged = helpdesk("purge", "--older-than", "30d")
    assert "purged 1 conversations, 2 messages, 1 updates" in purged.stdout
    assert await count(sessions, Conversation) == 0


def test_ages() -> None:
    assert parse_age("365d") == timedelta(days=365)
    assert parse_age("12w") == timedelta(weeks=12)
    assert parse_age("48h") == timedelta(hours=48)
    assert parse_age("30") == timedelta(days=30)
    for bad in ("soon", "-3d", "0"):
        with pytest.raises(ValueError):
            parse_age(bad)
