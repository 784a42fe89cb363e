"""Fixtures for the Telegram channel: a fake Bot API server and a client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from helpdesk.channels.telegram import TelegramClient
from tests.fakes.telegram_server import FakeTelegram


@pytest.fixture
async def fake_tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
async def tg_client(fake_tg: FakeTelegram) -> AsyncIterator[TelegramClient]:
    # Limits off: these tests are about the protocol, the limiter has its own tests.
    client = TelegramClient(
        fake_tg.token, fake_tg.base_url, rate_limit=0, chat_rate_limit=0, request_timeout=5
    )
    yield client
    await client.close()
