"""Phone verification fixtures: the real service, fake Telegram and fake Twilio on loopback.

A `Customer` writes to the bot through the real webhook and reads what the bot sent
back (text and keyboard) from the fake Telegram; SMS and Verify requests land on the
fake Twilio, which checks each one against Twilio's OpenAPI description.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select, update

from helpdesk.store.models import Customer, PhoneVerification
from tests.conftest import StartOnSharedBrain
from tests.e2e.service import RunningService
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.telegram_updates import tg_contact_update, tg_text_update
from tests.fakes.twilio_server import FakeTwilio
from tests.helpers.service import TWILIO_SENDER, twilio_settings

SENDER = TWILIO_SENDER
_CODE_IN_SMS = re.compile(r"\b(\d{6})\b")
_update_ids = itertools.count(1)


StartService = Callable[..., Awaitable[RunningService]]


@pytest.fixture
def start_sms(
    database_url: str, fake_twilio: FakeTwilio, start_on_shared_brain: StartOnSharedBrain
) -> StartService:
    """Start the service wired to both fakes: `verify=True` configures Twilio Verify,
    otherwise our own codes go out through the Messages API. `brain=` swaps the brain."""

    async def start(*, verify: bool = False, **overrides: Any) -> RunningService:
        values = {**twilio_settings(fake_twilio), "verify_secret": "test-pepper"}
        if verify:
            values.update(
                twilio_verify_service_sid=fake_twilio.verify_service_sid,
                twilio_verify_api_base=fake_twilio.base_url,
            )
        return await start_on_shared_brain(database_url, **{**values, **overrides})

    return start


class TelegramCustomer:
    """One Telegram user in a private chat with the bot."""

    def __init__(
        self,
        service: RunningService,
        tg: FakeTelegram,
        user_id: int,
        twilio: FakeTwilio | None = None,
    ) -> None:
        self.service = service
        self.tg = tg
        self.user_id = user_id
        self.twilio = twilio  # where the SMS with our own codes land

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

    async def asks_for_a_code(self, phone: str, *, typed: bool = False) -> dict[str, Any]:
        """/verify, then their own number: shared with the contact button, or typed."""
        await self.says("/verify")
        if typed:
            return await self.says(phone)
        return await self.shares_contact(phone, contact_user_id=self.user_id)

    def last_code(self) -> str:
        """The code in the latest SMS sent through the Messages API."""
        assert self.twilio is not None
        return code_in(self.twilio.messages[-1])

    async def gets_a_code(self, phone: str) -> str:
        await self.asks_for_a_code(phone)
        return self.last_code()

    async def verifies(self, phone: str) -> None:
        """Shares their number (a verification already asked for) and types the code."""
        await self.shares_contact(phone, contact_user_id=self.user_id)
        assert "is verified" in (await self.says(self.last_code()))["text"]

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


def customer(
    service: RunningService, tg: FakeTelegram, user_id: int, twilio: FakeTwilio | None = None
) -> TelegramCustomer:
    return TelegramCustomer(service, tg, user_id, twilio)


NewCustomer = Callable[..., Awaitable[TelegramCustomer]]


@pytest.fixture
def new_customer(
    start_sms: StartService, telegram: FakeTelegram, fake_twilio: FakeTwilio
) -> NewCustomer:
    """`await new_customer(ADA, **settings)`: a service started with these settings (as
    `start_sms` takes them) and that Telegram user in a chat with its bot."""

    async def make(user_id: int, **settings: Any) -> TelegramCustomer:
        service = await start_sms(**settings)
        return TelegramCustomer(service, telegram, user_id, fake_twilio)

    return make


def code_in(sms: dict[str, Any]) -> str:
    found = _CODE_IN_SMS.search(sms["Body"])
    assert found, f"no code in {sms['Body']!r}"
    return found.group(1)


def keyboard_buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    markup = message.get("reply_markup") or {}
    return [button for row in markup.get("keyboard", []) for button in row]
