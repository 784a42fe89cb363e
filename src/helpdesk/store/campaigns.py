"""Campaigns in the database: recipient rows, the Telegram hand-over, SMS claims,
delivery reports and progress. Segments and consent: store/audience.py.

Recipient statuses: `pending` (not handed to a channel yet), `queued` (Telegram: its
outbox row exists), `sent` (accepted by Telegram / Twilio), `delivered` (Twilio's
status callback said so), `failed`, `skipped` (the customer withdrew consent, or
changed number, after the campaign was created).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, cast, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.campaigns.consent import ConsentState
from helpdesk.campaigns.progress import (
    CANCELLED,
    DELIVERED,
    FAILED,
    OPEN,
    PENDING,
    QUEUED,
    SENDING,
    SENT,
    SKIPPED,
    Progress,
)
from helpdesk.store import outbox
from helpdesk.store.audience import consent_columns, consent_state
from helpdesk.store.models import (
    Campaign,
    CampaignRecipient,
    Customer,
    OutboxItem,
)
from helpdesk.store.types import utcnow

# A late "sent" callback must not overwrite "delivered": Twilio does not promise order.
_DELIVERY_RANK = {"accepted": 0, "queued": 1, "sending": 2, "sent": 3}
DELIVERY_FAILED = frozenset({"undelivered", "failed"})
DELIVERY_FINAL = DELIVERY_FAILED | {"delivered", "read"}

TELEGRAM, SMS = "telegram", "sms"
R = CampaignRecipient


# ---- creating a campaign --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewRecipient:
    customer_id: int
    channel: str
    address: str
    body: str
    segments: int = 1


async def create_campaign(
    session: AsyncSession,
    *,
    segment: str,
    channel: str,
    text: str,
    variants: dict[str, str] | None,
    link: str | None,
    created_by: str,
    recipients: Sequence[NewRecipient],
) -> int:
    """The campaign and all its recipient rows, in the caller's transaction."""
    now = utcnow()
    campaign = Campaign(
        segment=segment[:255],
        channel=channel,
        text=text,
        variants=variants or None,
        link=link,
        created_by=created_by[:255],
        status="sending" if recipients else "done",
        created_at=now,
        finished_at=None if recipients else now,
    )
    session.add(campaign)
    await session.flush()
    rows = [
        {
            "campaign_id": campaign.id,
            "customer_id": r.customer_id,
            "channel": r.channel,
            "address": r.address,
            "body": r.body,
            "segments": r.segments,
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "updated_at": now,
        }
        for r in recipients
    ]
    for start in range(0, len(rows), 1000):
        await session.execute(insert(CampaignRecipient), rows[start : start + 1000])
    return campaign.id


# ---- progress -------------------------------------------------------------------------------


async def campaign_progress(
    session: AsyncSession, *, campaign_ids: Collection[int] | None = None, limit: int = 50
) -> list[Progress]:
    """The newest campaigns first, with their recipients counted by channel and status."""
    query = select(Campaign).order_by(Campaign.id.desc()).limit(limit)
    if campaign_ids is not None:
        query = query.where(Campaign.id.in_(list(campaign_ids)))
    campaigns = (await session.scalars(query)).all()
    if not campaigns:
        return []
    found = {
        c.id: Progress(
            c.id,
            c.segment,
            c.channel,
            c.text,
            c.link,
            c.created_by,
            c.created_at,
            c.status,
            c.finished_at,
        )
        for c in campaigns
    }
    counts = await session.execute(
        select(R.campaign_id, R.channel, R.status, func.count())
        .where(R.campaign_id.in_(list(found)))
        .group_by(R.campaign_id, R.channel, R.status)
    )
    for campaign_id, channel, status, n in counts:
        found[campaign_id].counts.setdefault(channel, {})[status] = int(n)
    return list(found.values())


async def finish_campaigns(session: AsyncSession) -> list[int]:
    """Mark sending campaigns with no open recipient as done; return their ids."""
    open_rows = exists().where(R.campaign_id == Campaign.id, R.status.in_(OPEN))
    ids = list(
        (
            await session.scalars(select(Campaign.id).where(Campaign.status == SENDING, ~open_rows))
        ).all()
    )
    if ids:
        await session.execute(
            update(Campaign)
            .where(Campaign.id.in_(ids), Campaign.status == SENDING)  # not one just cancelled
            .values(status="done", finished_at=utcnow()),
            execution_options={"synchronize_session": False},
        )
    return ids


# ---- Telegram: feeding the outbox -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenRecipient:
    id: int
    campaign_id: int
    customer_id: int
    channel: str
    address: str
    body: str
    attempts: int
    customer_address: str | None  # the number or chat the customer has now
    consent: ConsentState


async def count_queued(session: AsyncSession) -> int:
    n = await session.scalar(
        select(func.count()).select_from(R).where(R.channel == TELEGRAM, R.status == QUEUED)
    )
    return int(n or 0)


async def due_recipients(
    session: AsyncSession, channel: str, *, limit: int, now: datetime | None = None
) -> list[OpenRecipient]:
    """Pending rows of `channel` whose time has come, oldest campaign first."""
    rows = await session.execute(
        select(
            R.id,
            R.campaign_id,
            R.customer_id,
            R.channel,
            R.address,
            R.body,
            R.attempts,
            Customer.external_id,
            *consent_columns(),
        )
        .join(Customer, Customer.id == R.customer_id)
        .where(R.channel == channel, R.status == PENDING, R.next_attempt_at <= (now or utcnow()))
        .order_by(R.campaign_id, R.id)
        .limit(limit)
    )
    return [
        OpenRecipient(
            row.id,
            row.campaign_id,
            row.customer_id,
            row.channel,
            row.address,
            row.body,
            row.attempts,
            row.phone_e164 if channel == SMS else str(row.external_id),
            consent_state(row),
        )
        for row in rows
    ]


async def queue_telegram(
    session: AsyncSession, recipient: OpenRecipient, parts: Sequence[str]
) -> None:
    """Hand one recipient to the Telegram outbox: its row and the recipient's new status
    commit together, and the dedup key keeps a second hand-over from queueing it twice."""
    prefix = f"campaign:{recipient.campaign_id}:{recipient.customer_id}"
    await outbox.enqueue(
        session,
        channel=TELEGRAM,
        chat_id=int(recipient.address),
        parts=parts,
        dedup_prefix=prefix,
    )
    outbox_id = await session.scalar(
        select(OutboxItem.id).where(OutboxItem.dedup_key == f"{prefix}:{len(parts) - 1}")
    )
    await _set(session, recipient.id, status=QUEUED, outbox_id=outbox_id)


async def reconcile_telegram(session: AsyncSession) -> int:
    """Copy what the outbox dispatcher recorded onto queued recipient rows.

    A row cancelled while queued whose message was already on its way to Telegram
    (past the guard) turns `sent` here: the counts say what customers really got.
    """
    changed = 0
    for outbox_status, status, was in (
        ("sent", SENT, (QUEUED, CANCELLED)),
        ("failed", FAILED, (QUEUED,)),
    ):
        row = select(OutboxItem).where(OutboxItem.id == R.outbox_id)
        result = await session.execute(
            update(R)
            .where(
                R.channel == TELEGRAM,
                R.status.in_(was),
                exists().where(OutboxItem.id == R.outbox_id, OutboxItem.status == outbox_status),
            )
            .values(
                status=status,
                attempts=row.with_only_columns(OutboxItem.attempts).scalar_subquery(),
                external_id=cast(
                    row.with_only_columns(OutboxItem.external_id).scalar_subquery(), String(64)
                ),
                error=row.with_only_columns(OutboxItem.last_error).scalar_subquery(),
                sent_at=row.with_only_columns(OutboxItem.sent_at).scalar_subquery(),
                updated_at=utcnow(),
            ),
            execution_options={"synchronize_session": False},
        )
        changed += int(getattr(result, "rowcount", 0) or 0)
    return changed


@dataclass(frozen=True, slots=True)
class TelegramCheck:
    recipient_id: int
    status: str  # the recipient row's
    campaign_status: str
    consent: ConsentState


async def telegram_check(
    session: AsyncSession, campaign_id: int, customer_id: int
) -> TelegramCheck | None:
    """The dispatcher's last check of a campaign row, in one query: the recipient row,
    whether the campaign was cancelled, and the customer's consent now."""
    row = (
        await session.execute(
            select(R.id, R.status, Campaign.status.label("campaign_status"), *consent_columns())
            .join(Customer, Customer.id == R.customer_id)
            .join(Campaign, Campaign.id == R.campaign_id)
            .where(
                R.campaign_id == campaign_id,
                R.customer_id == customer_id,
                R.channel == TELEGRAM,
            )
        )
    ).one_or_none()
    if row is None:
        return None
    return TelegramCheck(row.id, row.status, row.campaign_status, consent_state(row))


# ---- SMS: claim, send, record ---------------------------------------------------------------


async def claim(
    session: AsyncSession, recipient_id: int, *, lease: float, now: datetime | None = None
) -> int | None:
    """Take a due pending row for `lease` seconds; its attempt number, or None if taken."""
    now = now or utcnow()
    attempts: int | None = await session.scalar(
        update(R)
        .where(R.id == recipient_id, R.status == PENDING, R.next_attempt_at <= now)
        .values(next_attempt_at=now + timedelta(seconds=lease), attempts=R.attempts + 1)
        .returning(R.attempts)
    )
    return attempts


async def _set(session: AsyncSession, recipient_id: int, **values: Any) -> None:
    await session.execute(
        update(R).where(R.id == recipient_id).values(updated_at=utcnow(), **values),
        execution_options={"synchronize_session": False},
    )


async def mark_sent(session: AsyncSession, recipient_id: int, external_id: str) -> None:
    await _set(session, recipient_id, status=SENT, external_id=external_id, sent_at=utcnow())


async def mark_failed(session: AsyncSession, recipient_id: int, error: str) -> None:
    await _set(session, recipient_id, status=FAILED, error=error[:2000])


async def mark_skipped(session: AsyncSession, recipient_id: int, reason: str) -> None:
    """Only an open row: one a cancel has just closed stays `cancelled`."""
    await session.execute(
        update(R)
        .where(R.id == recipient_id, R.status.in_(OPEN))
        .values(status=SKIPPED, error=reason[:2000], updated_at=utcnow()),
        execution_options={"synchronize_session": False},
    )


async def mark_cancelled(session: AsyncSession, recipient_id: int) -> None:
    await _set(session, recipient_id, status=CANCELLED, error="campaign cancelled")


async def reschedule(session: AsyncSession, recipient_id: int, delay: float, error: str) -> None:
    await _set(
        session,
        recipient_id,
        next_attempt_at=utcnow() + timedelta(seconds=delay),
        error=error[:2000],
    )


@dataclass(frozen=True, slots=True)
class DeliveryNews:
    recipient_id: int
    campaign_id: int
    status: str


async def record_delivery(
    session: AsyncSession, sid: str, status: str, error_code: str | None = None
) -> DeliveryNews | None:
    """Note Twilio's status callback for a campaign SMS; None when the SID is not ours."""
    row = await session.scalar(select(R).where(R.external_id == sid, R.channel == SMS).limit(1))
    if row is None:
        return None
    status = status.strip().lower()
    if row.delivery_status in DELIVERY_FINAL or _DELIVERY_RANK.get(status, 9) < _DELIVERY_RANK.get(
        row.delivery_status or "", -1
    ):
        return DeliveryNews(row.id, row.campaign_id, row.status)
    values: dict[str, Any] = {"delivery_status": status[:32]}
    if status in DELIVERY_FAILED:
        code = f" (error {error_code})" if error_code else ""
        values.update(status=FAILED, error=f"Twilio reported {status}{code}")
    elif status in ("delivered", "read"):
        values.update(status=DELIVERED)
    await _set(session, row.id, **values)
    return DeliveryNews(row.id, row.campaign_id, values.get("status", row.status))
