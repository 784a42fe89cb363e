"""Phone verification fixtures: the real service, fake Telegram and fake Twilio on loopback.

A `Customer` writes to the bot through the real webhook and reads what the bot sent
back (text and keyboard) from the fake Telegram; SMS and Verify requests land on the
fake Twilio, which checks each one against Twilio's OpenAPI description.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from helpdesk.app import create_app
from helpdesk.brain import Brain, load_brain
from helpdesk.store.models import Customer, PhoneVerification
from tests.e2e.conftest import data_dir, telegram
from tests.e2e.service import RunningService, service_settings
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.telegram_updates import tg_contact_update, tg_text_update
from tests.fakes.twilio_server import FakeTwilio

__all__ = ["data_dir", "telegram"]

SENDER = "+15005550006"  # Twilio's magic "valid sender" test number
_CODE_IN_SMS = re.compile(r"\b(\d{6})\b")
_update_ids = itertools.count(1)


@pytest.fixture
async def fake_twilio() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio() as fake:
        yield fake
    # Whatever a test provoked, every request we sent must be one Twilio accepts.
    assert fake.spec_violations == []


@pytest.fixture(scope="session")
async def shared_brain(data_dir: Path) -> AsyncIterator[Brain]:
    # The embedding model is most of a start-up; the sample knowledge base is enough here.
    brain = await load_brain(service_settings("sqlite+aiosqlite://", str(data_dir)))
    yield brain
    await brain.aclose()


StartService = Callable[..., Awaitable[RunningService]]


@pytest.fixture
async def start_sms(
    database_url: str,
    data_dir: Path,
    telegram: FakeTelegram,
    fake_twilio: FakeTwilio,
    shared_brain: Brain,
) -> AsyncIterator[StartService]:
    """Start the service wired to both fakes: `verify=True` configures Twilio Verify,
    otherwise our own codes go out through the Messages API. `brain=` swaps the brain."""
    started: list[RunningService] = []

    async def start(
        *, verify: bool = False, brain: Brain | None = None, **overrides: Any
    ) -> RunningService:
        values: dict[str, Any] = {
            "twilio_account_sid": fake_twilio.account_sid,
            "twilio_auth_token": fake_twilio.auth_token,
            "twilio_from": SENDER,
            "twilio_api_base": fake_twilio.base_url,
            "verify_secret": "test-pepper",
        }
        if verify:
            values.update(
                twilio_verify_service_sid=fake_twilio.verify_service_sid,
                twilio_verify_api_base=fake_twilio.base_url,
            )
        values.update(overrides)
        settings = service_settings(
            database_url,
            str(data_dir),
            telegram_api_base=telegram.base_url,
            token=telegram.token,
            **values,
        )
        service = RunningService(settings)
        service.app = create_app(settings, brain or shared_brain)
        started.append(await service.start())
        return service

    yield start
    for service in started:
        await service.stop()


class TelegramCustomer:
    """One Telegram user in a private chat with the bot."""

    def __init__(self, service: RunningService, tg: FakeTelegram, user_id: int) -> None:
        self.service = service
        self.tg = tg
        self.user_id = user_id

    async def _send(self, update: dict[str, Any]) -> dict[str, Any]:
        before = len(self.tg.sent_messages(self.user_id))
        response = await self.service.send_update(update)
        assert response.status_code == 200, response.text
        found = await self.tg.wait_for_messages(before + 1, chat_id=self.user_id)
        await self.service.idle()
        assert len(self.tg.sent_messages(self.user_id)) == before + 1, "more than one reply"
        return found[before]

    async def says(self, text: str) -> dict[str, Any]:
        """Send a text message; return the bot's reply (sendMessage parameters)."""
        return await self._send(tg_text_update(next(_update_ids), self.user_id, text))

    async def shares_contact(self, phone: str, contact_user_id: int | None) -> dict[str, Any]:
        """Send a contact card, as the request_contact button (or the address book) does."""
        update = tg_contact_update(
            next(_update_ids), self.user_id, phone_number=phone, contact_user_id=contact_user_id
        )
        return await self._send(update)

    async def row(self) -> Customer:
        async with self.service.runtime.sessions() as session:
            found = await session.scalar(
                select(Customer).where(
                    Customer.channel == "telegram", Customer.external_id == self.user_id
                )
            )
        assert found is not None
        return found

    async def verifications(self) -> list[PhoneVerification]:
        customer = await self.row()
        async with self.service.runtime.sessions() as session:
            rows = await session.scalars(
                select(PhoneVerification)
                .where(PhoneVerification.customer_id == customer.id)
                .order_by(PhoneVerification.id)
            )
            return list(rows.all())

    async def move_verification(self, **values: datetime) -> None:
        """Rewrite the latest verification's times (expiry, send time) to skip waiting."""
        latest = (await self.verifications())[-1]
        async with self.service.runtime.sessions.begin() as session:
            await session.execute(
                update(PhoneVerification).where(PhoneVerification.id == latest.id).values(**values)
            )


def customer(service: RunningService, tg: FakeTelegram, user_id: int) -> TelegramCustomer:
    return TelegramCustomer(service, tg, user_id)


def code_in(sms: dict[str, Any]) -> str:
    found = _CODE_IN_SMS.search(sms["Body"])
    assert found, f"no code in {sms['Body']!r}"
    return found.group(1)


def keyboard_buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    markup = message.get("reply_markup") or {}
    return [button for row in markup.get("keyboard", []) for button in row]
