"""Campaigns in the database: who is in a segment, recipient rows, progress, consent.

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

from sqlalchemy import String, cast, exists, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.campaigns.consent import ConsentState
from helpdesk.campaigns.progress import (
    DELIVERED,
    FAILED,
    OPEN,
    PENDING,
    QUEUED,
    SENT,
    SKIPPED,
    Progress,
)
from helpdesk.campaigns.segments import Segment
from helpdesk.store import outbox
from helpdesk.store.models import (
    Campaign,
    CampaignRecipient,
    Conversation,
    Customer,
    Message,
    OutboxItem,
)
from helpdesk.store.types import utcnow

TELEGRAM, SMS = "telegram", "sms"
# A late "sent" callback must not overwrite "delivered": Twilio does not promise order.
_DELIVERY_RANK = {"accepted": 0, "queued": 1, "sending": 2, "sent": 3}
DELIVERY_FAILED = frozenset({"undelivered", "failed"})
DELIVERY_FINAL = DELIVERY_FAILED | {"delivered", "read"}

R = CampaignRecipient


def _consent_columns() -> tuple[Any, ...]:
    return (
        Customer.notifications_opted_out_at,
        Customer.phone_e164,
        Customer.phone_verified_at,
        Customer.sms_opted_in_at,
        Customer.sms_opted_out_at,
    )


def _consent(row: Any) -> ConsentState:
    return ConsentState(
        row.notifications_opted_out_at,
        row.phone_e164,
        row.phone_verified_at,
        row.sms_opted_in_at,
        row.sms_opted_out_at,
    )


# ---- segments -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    customer_id: int
    channel: str  # the channel the customer wrote from (telegram, webchat...)
    external_id: int
    first_name: str | None
    last_name: str | None
    language_code: str | None
    consent: ConsentState


async def asked_about(
    session: AsyncSession, article_ids: Collection[str], since: datetime | None
) -> set[int]:
    """Customers who got a bot answer citing one of `article_ids` (since `since`).

    Sources are JSON; reading them in Python keeps one query for both databases.
    """
    if not article_ids:
        return set()
    query = (
        select(Conversation.customer_id, Message.sources)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.author == "bot", Message.sources.is_not(None))
    )
    if since is not None:
        query = query.where(Message.created_at >= since)
    wanted = set(article_ids)
    found: set[int] = set()
    for customer_id, sources in await session.execute(query):
        if customer_id in found or not isinstance(sources, list):
            continue
        if any(isinstance(s, dict) and s.get("article_id") in wanted for s in sources):
            found.add(customer_id)
    return found


async def segment_candidates(
    session: AsyncSession,
    segment: Segment,
    *,
    article_ids: Collection[str] = (),
    now: datetime | None = None,
) -> list[Candidate]:
    """Everyone in the segment, consent not yet applied. `article_ids`: for tag/topic,
    the knowledge-base articles the tag or topic stands for."""
    query = select(
        Customer.id,
        Customer.channel,
        Customer.external_id,
        Customer.first_name,
        Customer.last_name,
        Customer.language_code,
        *_consent_columns(),
    ).order_by(Customer.id)
    if segment.kind == "verified":
        query = query.where(
            Customer.phone_verified_at.is_not(None), Customer.phone_e164.is_not(None)
        )
    elif segment.kind == "language":
        language = segment.value or ""
        query = query.where(
            or_(
                func.lower(Customer.language_code) == language,
                func.lower(Customer.language_code).like(f"{language}-%"),
            )
        )
    ids: set[int] | None = None
    if segment.kind in ("tag", "topic"):
        since = None
        if segment.days is not None:
            since = (now or utcnow()) - timedelta(days=segment.days)
        ids = await asked_about(session, article_ids, since)
        if not ids:
            return []
    rows = (await session.execute(query)).all()
    return [
        Candidate(
            row.id,
            row.channel,
            row.external_id,
            row.first_name,
            row.last_name,
            row.language_code,
            _consent(row),
        )
        for row in rows
        if ids is None or row.id in ids
    ]


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
            await session.scalars(
                select(Campaign.id).where(Campaign.status == "sending", ~open_rows)
            )
        ).all()
    )
    if ids:
        await session.execute(
            update(Campaign)
            .where(Campaign.id.in_(ids))
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
            *_consent_columns(),
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
            _consent(row),
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
    """Copy what the outbox dispatcher recorded onto queued recipient rows."""
    changed = 0
    for outbox_status, status in (("sent", SENT), ("failed", FAILED)):
        row = select(OutboxItem).where(OutboxItem.id == R.outbox_id)
        result = await session.execute(
            update(R)
            .where(
                R.channel == TELEGRAM,
                R.status == QUEUED,
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


async def telegram_consent(
    session: AsyncSession, campaign_id: int, customer_id: int
) -> tuple[int | None, ConsentState | None]:
    """The recipient row id and the customer's consent now (the dispatcher's last check)."""
    row = (
        await session.execute(
            select(R.id, *_consent_columns())
            .join(Customer, Customer.id == R.customer_id)
            .where(
                R.campaign_id == campaign_id,
                R.customer_id == customer_id,
                R.channel == TELEGRAM,
            )
        )
    ).one_or_none()
    if row is None:
        return None, None
    return row.id, _consent(row)


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
    await _set(session, recipient_id, status=SKIPPED, error=reason[:2000])


async def reschedule(session: AsyncSession, recipient_id: int, delay: float, error: str) -> None:
    await _set(
        session,
        recipient_id,
        next_attempt_at=utcnow() + timedelta(seconds=delay),
        error=error[:2000],
    )


async def next_due(session: AsyncSession, channel: str) -> datetime | None:
    when: datetime | None = await session.scalar(
        select(R.next_attempt_at)
        .where(R.channel == channel, R.status == PENDING)
        .order_by(R.next_attempt_at)
        .limit(1)
    )
    return when


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


# ---- consent --------------------------------------------------------------------------------


async def consent_of(session: AsyncSession, customer_id: int) -> ConsentState | None:
    row = (
        await session.execute(select(*_consent_columns()).where(Customer.id == customer_id))
    ).one_or_none()
    return None if row is None else _consent(row)


async def set_customer_consent(session: AsyncSession, customer_id: int, **values: Any) -> None:
    await session.execute(
        update(Customer).where(Customer.id == customer_id).values(**values),
        execution_options={"synchronize_session": False},
    )


async def sms_keyword(session: AsyncSession, phone: str, *, stop: bool) -> int:
    """STOP or START from `phone`: record it on every customer with that verified number."""
    now = utcnow()
    values = {"sms_opted_out_at": now} if stop else {"sms_opted_in_at": now}
    result = await session.execute(
        update(Customer)
        .where(Customer.phone_e164 == phone, Customer.phone_verified_at.is_not(None))
        .values(**values),
        execution_options={"synchronize_session": False},
    )
    changed = int(getattr(result, "rowcount", 0) or 0)
    if stop:
        # Whatever is still waiting for this number stays unsent.
        customers = select(Customer.id).where(Customer.phone_e164 == phone)
        await session.execute(
            update(R)
            .where(R.channel == SMS, R.status == PENDING, R.customer_id.in_(customers))
            .values(status=SKIPPED, error="opted out (STOP)", updated_at=now),
            execution_options={"synchronize_session": False},
        )
    return changed


async def skip_open(session: AsyncSession, customer_id: int, channels: Collection[str]) -> int:
    """The customer opted out: their campaign messages not yet sent stay unsent.

    Queued Telegram rows are stopped by the dispatcher's guard, which checks again.
    """
    result = await session.execute(
        update(R)
        .where(
            R.customer_id == customer_id,
            R.channel.in_(list(channels)),
            R.status == PENDING,
        )
        .values(status=SKIPPED, error="opted out", updated_at=utcnow()),
        execution_options={"synchronize_session": False},
    )
    return int(getattr(result, "rowcount", 0) or 0)
