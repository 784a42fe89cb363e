"""Fixtures for the rest of issue 5: the real service (shared brain), agents, clients."""

from __future__ import annotations

from sqlalchemy import select

from helpdesk.store import agents as agent_store
from helpdesk.store.models import Agent, ConversationEvent
from tests.api.conftest import Api, signed_in
from tests.console.conftest import StartConsole, start_console
from tests.e2e.service import RunningService
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.telegram_updates import tg_text_update
from tests.helpers.console import PASSWORD, add_agent, browser, csrf_in, flash, log_in

__all__ = [
    "PASSWORD",
    "Api",
    "StartConsole",
    "add_agent",
    "browser",
    "csrf_in",
    "flash",
    "log_in",
    "signed_in",
    "start_console",
]


async def escalated(service: RunningService, tg: FakeTelegram, chat_id: int) -> int:
    """A customer asks for a person; the id of the conversation now waiting."""
    before = len(tg.sent_messages(chat_id))
    response = await service.send_update(tg_text_update(chat_id, chat_id, "/human"))
    assert response.status_code == 200
    await tg.wait_for_messages(before + 1, chat_id=chat_id)
    await service.idle()
    [waiting] = [
        c
        for c in await service.runtime.handoff.list_conversations(state="waiting")
        if c.chat_id == chat_id
    ]
    return waiting.id


async def audit_trail(service: RunningService, conversation_id: int) -> list[ConversationEvent]:
    async with service.runtime.sessions() as session:
        rows = await session.scalars(
            select(ConversationEvent)
            .where(ConversationEvent.conversation_id == conversation_id)
            .order_by(ConversationEvent.id)
        )
        return list(rows.all())


async def agent_row(service: RunningService, agent_id: int) -> Agent:
    async with service.runtime.sessions() as session:
        agent = await session.get(Agent, agent_id)
        assert agent is not None
        return agent


async def agent_with_phone(
    service: RunningService, email: str, name: str, phone: str, *, role: str = "agent"
) -> int:
    async with service.runtime.sessions.begin() as session:
        agent = await agent_store.create_agent(
            session, email=email, name=name, password=PASSWORD, role=role, phone=phone
        )
        return agent.id
