"""Alert fixtures: a migrated database, fake Twilio and SendGrid, real senders, a team."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.config import Settings
from helpdesk.domain import IncomingMessage, MessageKind
from helpdesk.handoff.alerting import AlertWorker
from helpdesk.handoff.events import EventBus
from helpdesk.handoff.service import HandoffService
from helpdesk.notify import build_senders
from helpdesk.store import agents as agent_store
from helpdesk.store import conversations as conversation_store
from helpdesk.store.models import Alert
from tests.fakes.sendgrid_server import FakeSendGrid
from tests.fakes.twilio_server import FakeTwilio
from tests.helpers.service import TWILIO_SENDER, sendgrid_settings, twilio_settings

SENDER_NUMBER = TWILIO_SENDER
SENDER_EMAIL = "Northwind Support <help@northwind.example>"
PUBLIC_URL = "https://helpdesk.example.test"
LAST_MESSAGE = "My blender arrived broken and I want to talk to a person"


MakeSettings = Callable[..., Settings]


@pytest.fixture
def make_settings(
    database_url: str, fake_twilio: FakeTwilio, fake_sendgrid: FakeSendGrid
) -> MakeSettings:
    """Settings with both providers pointed at the fakes; sms=False / email=False drop one."""

    def make(*, sms: bool = True, email: bool = True, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "_env_file": None,
            "database_url": database_url,
            "public_url": PUBLIC_URL,
            "handoff_sla_seconds": 1,
        }
        if sms:
            values.update(twilio_settings(fake_twilio, SENDER_NUMBER))
        if email:
            values.update(sendgrid_settings(fake_sendgrid, SENDER_EMAIL))
        values.update(overrides)
        return Settings(**values)

    return make


MakeWorker = Callable[..., AlertWorker]


@pytest.fixture
async def make_worker(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[MakeWorker]:
    """A worker with the real senders `build_senders` makes from the settings."""
    workers: list[AlertWorker] = []

    def make(settings: Settings, **options: Any) -> AlertWorker:
        sms, email = build_senders(settings)
        worker = AlertWorker(sessions, settings, sms, email, **options)
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        await worker.aclose()


@dataclass
class Team:
    ana: int
    bob: int
    cat: int  # away
    boss: int  # admin


PHONES = {"ana": "+14155550101", "bob": "+14155550102", "cat": "+14155550103"}
PHONES["boss"] = "+14155550199"


@pytest.fixture(autouse=True)
def cheap_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    # Production-strength argon2 costs a quarter second per agent; these tests log no one in.
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(agent_store, "_hasher", cheap)


@pytest.fixture
async def team(sessions: async_sessionmaker[AsyncSession]) -> Team:
    ids: dict[str, int] = {}
    async with sessions.begin() as session:
        for name, role in (("ana", "agent"), ("cat", "agent"), ("bob", "agent")):
            agent = await agent_store.create_agent(
                session,
                email=f"{name}@northwind.example",
                name=name.capitalize(),
                password="correct horse",
                role=role,
                phone=PHONES[name],
            )
            ids[name] = agent.id
        boss = await agent_store.create_agent(
            session,
            email="boss@northwind.example",
            name="Boss",
            password="correct horse",
            role="admin",
            phone=PHONES["boss"],
        )
        ids["boss"] = boss.id
        await agent_store.set_available(session, ids["cat"], False)
    return Team(**ids)


Escalate = Callable[..., Awaitable[int]]


@pytest.fixture
def handoff(sessions: async_sessionmaker[AsyncSession]) -> HandoffService:
    return HandoffService(sessions, EventBus(), outlets={})


@pytest.fixture
def escalate(sessions: async_sessionmaker[AsyncSession], handoff: HandoffService) -> Escalate:
    """A Telegram customer writes, and the bot hands the conversation to the team."""
    counter = iter(range(1, 1_000))

    async def run(text: str = LAST_MESSAGE, reason: str = "explicit_request") -> int:
        n = next(counter)
        incoming = IncomingMessage(
            channel="telegram",
            update_id=n,
            chat_id=5000 + n,
            user_id=5000 + n,
            kind=MessageKind.TEXT,
            sent_at=datetime.now(UTC),
            first_name="Maria",
            last_name="Lopez",
            text=text,
        )
        async with sessions.begin() as session:
            customer = await conversation_store.upsert_customer(session, incoming)
            conversation = await conversation_store.open_conversation(
                session, customer.id, "telegram", incoming.chat_id
            )
            await conversation_store.add_customer_message(session, conversation.id, incoming, None)
            assert await handoff.escalate(
                session, conversation.id, reason, "asked for a human", actor="bot"
            )
        return conversation.id

    return run


async def alert_rows(
    sessions: async_sessionmaker[AsyncSession], conversation_id: int | None = None
) -> list[Alert]:
    async with sessions() as session:
        query = select(Alert).order_by(Alert.id)
        if conversation_id is not None:
            query = query.where(Alert.conversation_id == conversation_id)
        return list((await session.scalars(query)).all())
