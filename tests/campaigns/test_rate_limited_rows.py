"""A campaign row waiting for its Telegram rate-limit slot is checked once the wait is
over: a cancel, or a /notifications off, that lands during the wait still stops it.

The wait here is a per-chat one: the customer was just sent a three-part answer, so
the update waits a few seconds in the limiter before it may go to that chat.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.channels.telegram import TelegramClient
from helpdesk.store.models import Customer, OutboxItem
from tests.api.conftest import signed_in
from tests.campaigns.conftest import StartService, add_customer, recipients, start_campaign
from tests.e2e.service import RunningService
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.telegram_updates import tg_text_update

NEWS = "Hello {name}, the summer catalogue is out."
MARKER = "summer catalogue"
FRESH, BUSY = 3101, 3102  # BUSY just got an answer: its next message must wait


class LimiterWatch:
    """When each chat's send entered the rate limiter and when it was let through."""

    def __init__(self, client: TelegramClient, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entered: dict[int, asyncio.Event] = {}
        self.passed_at: dict[int, float] = {}
        acquire = client.limiter.acquire

        async def watched(chat_id: int) -> None:
            self.entered.setdefault(chat_id, asyncio.Event()).set()
            await acquire(chat_id)
            self.passed_at[chat_id] = time.monotonic()

        monkeypatch.setattr(client.limiter, "acquire", watched)

    async def waiting(self, chat_id: int) -> None:
        async with asyncio.timeout(15):
            await self.entered.setdefault(chat_id, asyncio.Event()).wait()


async def busy_chat_waiting(
    start: StartService, monkeypatch: pytest.MonkeyPatch
) -> tuple[RunningService, LimiterWatch]:
    # One message every 3 s per chat after a burst of 3: a fourth waits about 3 s.
    service = await start(telegram_chat_rate_limit=1 / 3)
    client = service.runtime.telegram
    assert client is not None
    for chat in (FRESH, BUSY):
        await add_customer(service.runtime.sessions, chat)
    for part in ("Your order shipped.", "Tracking: 1Z999.", "Anything else?"):
        await client.send_message(BUSY, part)
    return service, LimiterWatch(client, monkeypatch)


def campaign_chats(tg: FakeTelegram) -> list[int]:
    return [m["chat_id"] for m in tg.sent_messages() if MARKER in m.get("text", "")]


async def opted_out(sessions: async_sessionmaker[AsyncSession], chat_id: int) -> None:
    query = select(Customer.notifications_opted_out_at).where(Customer.external_id == chat_id)
    async with asyncio.timeout(15):
        while True:
            async with sessions() as session:
                if await session.scalar(query) is not None:
                    return
            await asyncio.sleep(0.05)


async def busy_row_settled(sessions: async_sessionmaker[AsyncSession]) -> OutboxItem:
    async with asyncio.timeout(15):
        while True:
            async with sessions() as session:
                item = await session.scalar(select(OutboxItem).where(OutboxItem.chat_id == BUSY))
            if item is not None and item.status != "pending":
                return item
            await asyncio.sleep(0.1)


async def test_a_cancel_while_a_row_waits_for_its_slot_stops_it(
    start: StartService, telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    service, watch = await busy_chat_waiting(start, monkeypatch)
    sessions = service.runtime.sessions
    admin = await signed_in(service, "admin@example.com", role="admin")
    campaign_id = await start_campaign(service, NEWS)
    await telegram.wait_for_messages(1, chat_id=FRESH, timeout=15)
    await watch.waiting(BUSY)

    cancelled = await admin.post(f"/campaigns/{campaign_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    # The premise: the cancel committed while the row still waited in the limiter.
    assert BUSY not in watch.passed_at

    item = await busy_row_settled(sessions)
    assert BUSY in watch.passed_at  # it did wait its turn, and was refused then
    assert (item.status, item.last_error) == ("failed", "the campaign was cancelled")
    assert campaign_chats(telegram) == [FRESH]
    rows = {row.customer_id: row for row in await recipients(sessions, campaign_id)}
    assert sorted((row.status, row.error) for row in rows.values()) == [
        ("cancelled", "campaign cancelled"),
        ("sent", None),
    ]


async def test_an_opt_out_while_a_row_waits_for_its_slot_stops_it(
    start: StartService, telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    service, watch = await busy_chat_waiting(start, monkeypatch)
    sessions = service.runtime.sessions
    campaign_id = await start_campaign(service, NEWS)
    await telegram.wait_for_messages(1, chat_id=FRESH, timeout=15)
    await watch.waiting(BUSY)

    await service.send_update(tg_text_update(1, BUSY, "/notifications off"))
    await opted_out(sessions, BUSY)
    # The premise: the opt-out committed while the row still waited in the limiter.
    assert BUSY not in watch.passed_at
    item = await busy_row_settled(sessions)

    assert (item.status, item.last_error) == ("failed", "the customer opted out of updates")
    assert campaign_chats(telegram) == [FRESH]
    rows = await recipients(sessions, campaign_id)
    assert sorted((row.status, row.error) for row in rows) == [
        ("sent", None),
        ("skipped", "opted out"),
    ]
    # The confirmation still reaches the customer, after the refused row.
    *_answer, reply = await telegram.wait_for_messages(4, chat_id=BUSY, timeout=15)
    assert "no more updates" in reply["text"]
