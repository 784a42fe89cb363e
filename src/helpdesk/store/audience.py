"""Who a campaign can reach: segments of customers, and the consent they gave.

Consent lives in the customer columns of migration 0003 (see campaigns/consent.py for
the rules); the campaign's own rows are in store/campaigns.py.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.campaigns.consent import ConsentState
from helpdesk.campaigns.progress import PENDING, SKIPPED
from helpdesk.campaigns.segments import Segment
from helpdesk.store.models import CampaignRecipient, Conversation, Customer, Message
from helpdesk.store.types import utcnow

TELEGRAM, SMS = "telegram", "sms"
R = CampaignRecipient


def consent_columns() -> tuple[Any, ...]:
    return (
        Customer.notifications_opted_out_at,
        Customer.phone_e164,
        Customer.phone_verified_at,
        Customer.sms_opted_in_at,
        Customer.sms_opted_out_at,
    )


def consent_state(row: Any) -> ConsentState:
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
    # Streamed in slices: a year of answers need not sit in memory at once.
    rows = await session.stream(query.execution_options(yield_per=2000))
    async for customer_id, sources in rows:
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
        *consent_columns(),
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
            consent_state(row),
        )
        for row in rows
        if ids is None or row.id in ids
    ]


# ---- consent --------------------------------------------------------------------------------


async def consent_of(session: AsyncSession, customer_id: int) -> ConsentState | None:
    row = (
        await session.execute(select(*consent_columns()).where(Customer.id == customer_id))
    ).one_or_none()
    return None if row is None else consent_state(row)


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
