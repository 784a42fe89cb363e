"""Campaign fixtures: the real service with fake Telegram and fake Twilio, customers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.campaigns.progress import Progress
from helpdesk.campaigns.segments import parse_segment
from helpdesk.campaigns.service import Draft, create
from helpdesk.config import SAMPLE_KNOWLEDGE_PATH
from helpdesk.store import campaigns as campaign_store
from helpdesk.store.models import CampaignRecipient, Customer
from helpdesk.store.types import utcnow
from tests.conftest import StartOnSharedBrain
from tests.e2e.service import RunningService
from tests.fakes.twilio_server import FakeTwilio
from tests.helpers.service import twilio_settings

StartService = Callable[..., Awaitable[RunningService]]


@pytest.fixture
def start(
    database_url: str, fake_twilio: FakeTwilio, start_on_shared_brain: StartOnSharedBrain
) -> StartService:
    """The service wired to both fakes; Twilio signs the loopback URL it calls."""

    async def run(**overrides: Any) -> RunningService:
        values = {
            **twilio_settings(fake_twilio),
            "campaign_sms_rate": 50.0,
            "handoff_alert_channels": ["email"],
        }
        service = await start_on_shared_brain(database_url, **{**values, **overrides})
        service.settings.public_url = service.base_url
        return service

    return run


async def add_customer(
    sessions: async_sessionmaker[AsyncSession],
    chat_id: int,
    *,
    first_name: str = "Ada",
    language: str | None = "en",
    phone: str | None = None,
    sms_opt_in: bool = False,
    opted_out: bool = False,
) -> int:
    """A Telegram customer; `phone` verified (as sms-verify would record it)."""
    now = utcnow() - timedelta(minutes=5)
    async with sessions.begin() as session:
        customer = Customer(
            channel="telegram",
            external_id=chat_id,
            first_name=first_name,
            language_code=language,
            created_at=now,
            last_seen_at=now,
            phone_e164=phone,
            phone_verified_at=now if phone else None,
            sms_opted_in_at=now if sms_opt_in else None,
            notifications_opted_out_at=now if opted_out else None,
        )
        session.add(customer)
        await session.flush()
        return int(customer.id)


async def start_campaign(
    service: RunningService,
    text: str,
    *,
    segment: str = "all",
    channel: str = "telegram",
    **options: Any,
) -> int:
    runtime = service.runtime
    draft = Draft(parse_segment(segment), channel, text, created_by="test", **options)
    async with runtime.sessions.begin() as session:
        campaign_id, _ = await create(
            session, draft, company="Northwind Goods", knowledge_path=SAMPLE_KNOWLEDGE_PATH
        )
    assert runtime.campaigns is not None
    runtime.campaigns.wake()
    return campaign_id


async def wait_done(
    sessions: async_sessionmaker[AsyncSession], campaign_id: int, timeout: float = 20.0
) -> Progress:
    async with asyncio.timeout(timeout):
        while True:
            async with sessions() as session:
                [progress] = await campaign_store.campaign_progress(
                    session, campaign_ids=[campaign_id]
                )
            if progress.status == "done":
                return progress
            await asyncio.sleep(0.1)


async def recipients(
    sessions: async_sessionmaker[AsyncSession], campaign_id: int
) -> list[CampaignRecipient]:
    async with sessions() as session:
        rows = await session.scalars(
            select(CampaignRecipient)
            .where(CampaignRecipient.campaign_id == campaign_id)
            .order_by(CampaignRecipient.id)
        )
        return list(rows.all())
