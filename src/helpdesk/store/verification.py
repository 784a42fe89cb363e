"""Phone verification rows (see models.PhoneVerification) and the customer's verified phone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.store.models import Customer, PhoneVerification

AWAITING = "awaiting_number"
PENDING = "pending"
OPEN = (AWAITING, PENDING)
SEND_FAILED = "send_failed"


@dataclass(frozen=True, slots=True)
class OpenVerification:
    id: int
    status: str
    phone_e164: str | None
    backend: str | None
    code_salt: str | None
    code_hash: str | None
    attempts: int
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class SentCodes:
    last_sent_at: datetime | None
    to_number: int
    by_customer: int


async def open_verification(
    session: AsyncSession, customer_id: int, *, not_expired_before: datetime
) -> OpenVerification | None:
    """The customer's latest awaiting or pending verification, if it expired after the
    given moment (a code typed a little late still deserves "expired", not an answer)."""
    row = (
        await session.execute(
            select(
                PhoneVerification.id,
                PhoneVerification.status,
                PhoneVerification.phone_e164,
                PhoneVerification.backend,
                PhoneVerification.code_salt,
                PhoneVerification.code_hash,
                PhoneVerification.attempts,
                PhoneVerification.expires_at,
            )
            .where(
                PhoneVerification.customer_id == customer_id,
                PhoneVerification.status.in_(OPEN),
                PhoneVerification.expires_at > not_expired_before,
            )
            .order_by(PhoneVerification.id.desc())
            .limit(1)
        )
    ).one_or_none()
    return None if row is None else OpenVerification(*row)


async def close_open(session: AsyncSession, customer_id: int, status: str, now: datetime) -> None:
    """End every open verification of the customer (a new one replaces them)."""
    await session.execute(
        update(PhoneVerification)
        .where(
            PhoneVerification.customer_id == customer_id,
            PhoneVerification.status.in_(OPEN),
        )
        .values(status=status, finished_at=now)
    )


async def await_number(
    session: AsyncSession, customer_id: int, now: datetime, ttl: timedelta
) -> int:
    """From now on (for `ttl`), a contact or a number in the chat is for verification."""
    await close_open(session, customer_id, "superseded", now)
    row_id = await session.scalar(
        insert(PhoneVerification)
        .values(
            customer_id=customer_id,
            status=AWAITING,
            attempts=0,
            created_at=now,
            expires_at=now + ttl,
        )
        .returning(PhoneVerification.id)
    )
    assert row_id is not None
    return int(row_id)


async def sent_codes(
    session: AsyncSession, customer_id: int, phone_e164: str, now: datetime
) -> SentCodes:
    """Codes sent in the last 24 h to the number and for the customer (failed sends
    count against the caps; only delivered-to-Twilio ones start a cooldown)."""
    since = now - timedelta(days=1)
    sent = PhoneVerification.sent_at.is_not(None) & (PhoneVerification.sent_at > since)
    to_number = PhoneVerification.phone_e164 == phone_e164
    by_customer = PhoneVerification.customer_id == customer_id
    row = (
        await session.execute(
            select(
                func.max(PhoneVerification.sent_at).filter(PhoneVerification.status != SEND_FAILED),
                func.count().filter(to_number),
                func.count().filter(by_customer),
            ).where(and_(sent, or_(to_number, by_customer)))
        )
    ).one()
    last, number_count, customer_count = row
    if last is not None and last.tzinfo is None:  # SQLite may hand an aggregate back naive
        last = last.replace(tzinfo=UTC)
    return SentCodes(last, int(number_count or 0), int(customer_count or 0))


async def record_send(
    session: AsyncSession,
    customer_id: int,
    *,
    phone_e164: str,
    backend: str,
    code_salt: str | None,
    code_hash: str | None,
    now: datetime,
    ttl: timedelta,
) -> int:
    """A code is about to go out: the new pending verification replaces any open one."""
    await close_open(session, customer_id, "superseded", now)
    row_id = await session.scalar(
        insert(PhoneVerification)
        .values(
            customer_id=customer_id,
            status=PENDING,
            phone_e164=phone_e164,
            backend=backend,
            code_salt=code_salt,
            code_hash=code_hash,
            attempts=0,
            created_at=now,
            sent_at=now,
            expires_at=now + ttl,
        )
        .returning(PhoneVerification.id)
    )
    assert row_id is not None
    return int(row_id)


async def finish(session: AsyncSession, verification_id: int, status: str, now: datetime) -> None:
    await session.execute(
        update(PhoneVerification)
        .where(PhoneVerification.id == verification_id)
        .values(status=status, finished_at=now)
    )


async def count_attempt(session: AsyncSession, verification_id: int) -> int:
    """One more code tried; returns the attempts made so far."""
    attempts = await session.scalar(
        update(PhoneVerification)
        .where(PhoneVerification.id == verification_id)
        .values(attempts=PhoneVerification.attempts + 1)
        .returning(PhoneVerification.attempts)
    )
    assert attempts is not None
    return int(attempts)


async def mark_customer_verified(
    session: AsyncSession, customer_id: int, phone_e164: str, now: datetime
) -> None:
    await session.execute(
        update(Customer)
        .where(Customer.id == customer_id)
        .values(phone_e164=phone_e164, phone_verified_at=now)
    )


async def verified_phone(session: AsyncSession, customer_id: int) -> str | None:
    """The customer's phone number if they proved it, else None."""
    row = (
        await session.execute(
            select(Customer.phone_e164, Customer.phone_verified_at).where(
                Customer.id == customer_id
            )
        )
    ).one_or_none()
    if row is None or row.phone_verified_at is None:
        return None
    phone: str | None = row.phone_e164
    return phone
