"""Cancelling a campaign in the database, and its audit trail (migration 0007).

One transaction: the campaign turns `cancelled` (only from `sending`, so a campaign
that finished meanwhile stays `done`), every recipient row still open (`pending`, or
`queued` in the Telegram outbox) turns `cancelled`, and an audit row records who did
it. From its commit on, the SMS worker can claim none of those rows (a claim needs
`pending`), and the Telegram guard refuses the outbox rows of the campaign.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.campaigns.progress import CANCELLED, OPEN, SENDING
from helpdesk.store.models import Campaign, CampaignEvent, CampaignRecipient
from helpdesk.store.types import utcnow

CANCELLED_EVENT = "cancelled"


@dataclass(frozen=True, slots=True)
class Cancelled:
    """What a cancel found: the campaign's status before (None: no such campaign), and
    whether this call cancelled it, with how many recipient rows it stopped."""

    status_before: str | None
    cancelled_now: bool = False
    recipients: int = 0


async def cancel_campaign(
    session: AsyncSession, campaign_id: int, *, actor: str, agent_id: int | None
) -> Cancelled:
    """Cancel a sending campaign in the caller's transaction (see the module's doc)."""
    now = utcnow()
    result = await session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status == SENDING)
        .values(status=CANCELLED, finished_at=now),
        execution_options={"synchronize_session": False},
    )
    if not getattr(result, "rowcount", 0):
        status = await session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))
        return Cancelled(status)
    stopped = await session.execute(
        update(CampaignRecipient)
        .where(CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.status.in_(OPEN))
        .values(status=CANCELLED, error="campaign cancelled", updated_at=now),
        execution_options={"synchronize_session": False},
    )
    recipients = int(getattr(stopped, "rowcount", 0) or 0)
    session.add(
        CampaignEvent(
            campaign_id=campaign_id,
            event=CANCELLED_EVENT,
            actor=actor[:255],
            agent_id=agent_id,
            detail={"recipients": recipients},
            at=now,
        )
    )
    return Cancelled(SENDING, True, recipients)


@dataclass(frozen=True, slots=True)
class Cancellation:
    actor: str
    agent_id: int | None
    at: datetime
    recipients: int


async def cancellation(session: AsyncSession, campaign_id: int) -> Cancellation | None:
    """Who cancelled the campaign and when (its audit row), or None."""
    row = await session.scalar(
        select(CampaignEvent)
        .where(CampaignEvent.campaign_id == campaign_id, CampaignEvent.event == CANCELLED_EVENT)
        .order_by(CampaignEvent.id)
        .limit(1)
    )
    if row is None:
        return None
    detail = row.detail if isinstance(row.detail, dict) else {}
    return Cancellation(row.actor, row.agent_id, row.at, int(detail.get("recipients", 0)))
