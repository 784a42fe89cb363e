"""Retention and the right to be forgotten.

`purge` deletes what is older than the retention period (`HELPDESK_RETENTION_DAYS`):
conversations with no message since (their messages, ratings, answer votes,
outcomes, events, notes and alerts go with them through ON DELETE CASCADE), raw
updates and outbox rows. Customers stay: their consent (opt-outs) must outlive
their conversations.

`forget` deletes one customer everywhere: profile, conversations and everything
hanging off them, raw updates (which hold the original payloads), outbox rows to
their chats. Nothing is kept in aggregate form: reports are computed from rows, so
the customer simply stops counting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import delete, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.store.models import Conversation, Customer, Message, OutboxItem, RawUpdate
from helpdesk.store.types import utcnow

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Deleted:
    conversations: int = 0
    messages: int = 0
    updates: int = 0
    outbox: int = 0
    customers: int = 0


def parse_age(text: str) -> timedelta:
    """'365d', '12w', '48h' or a plain number of days."""
    text = text.strip().lower()
    units = {"d": 1, "w": 7}
    if text.endswith("h"):
        return timedelta(hours=float(text[:-1]))
    factor = units.get(text[-1:])
    number = text[:-1] if factor is not None else text
    try:
        days = float(number) * (factor or 1)
    except ValueError as error:
        raise ValueError(f"not an age: {text!r} (try 365d, 12w or 48h)") from error
    if days <= 0:
        raise ValueError("the age must be positive")
    return timedelta(days=days)


async def purge(
    sessions: async_sessionmaker[AsyncSession],
    older_than: timedelta,
    *,
    now: datetime | None = None,
) -> Deleted:
    cutoff = (now or utcnow()) - older_than
    async with sessions.begin() as session:
        recent = exists().where(
            Message.conversation_id == Conversation.id, Message.created_at >= cutoff
        )
        old = select(Conversation.id).where(Conversation.created_at < cutoff, ~recent)
        ids = list((await session.scalars(old)).all())
        messages = await _count_messages(session, ids)
        conversations = await _delete_conversations(session, ids)
        updates = await _rowcount(session, delete(RawUpdate).where(RawUpdate.received_at < cutoff))
        sent = await _rowcount(session, delete(OutboxItem).where(OutboxItem.created_at < cutoff))
    result = Deleted(conversations, messages, updates, sent)
    log.info("privacy.purged", cutoff=cutoff.isoformat(), **_fields(result))
    return result


async def forget(sessions: async_sessionmaker[AsyncSession], customer_id: int) -> Deleted | None:
    """Delete one customer's data everywhere; None when there is no such customer."""
    async with sessions.begin() as session:
        customer = await session.get(Customer, customer_id)
        if customer is None:
            return None
        rows = (
            await session.execute(
                select(Conversation.id, Conversation.chat_id).where(
                    Conversation.customer_id == customer_id
                )
            )
        ).all()
        ids = [row.id for row in rows]
        chats = {row.chat_id for row in rows} | {customer.external_id}
        messages = await _count_messages(session, ids)
        conversations = await _delete_conversations(session, ids)
        updates = await _rowcount(
            session,
            delete(RawUpdate).where(
                RawUpdate.channel == customer.channel,
                or_(RawUpdate.user_id == customer.external_id, RawUpdate.chat_id.in_(chats)),
            ),
        )
        sent = await _rowcount(
            session,
            delete(OutboxItem).where(
                OutboxItem.channel == customer.channel, OutboxItem.chat_id.in_(chats)
            ),
        )
        await session.execute(delete(Customer).where(Customer.id == customer_id))
    result = Deleted(conversations, messages, updates, sent, customers=1)
    log.info("privacy.forgotten", customer_id=customer_id, **_fields(result))
    return result


async def _count_messages(session: AsyncSession, ids: list[int]) -> int:
    total = 0
    for chunk in _chunks(ids):
        total += int(
            await session.scalar(
                select(func.count()).select_from(Message).where(Message.conversation_id.in_(chunk))
            )
            or 0
        )
    return total


async def _delete_conversations(session: AsyncSession, ids: list[int]) -> int:
    deleted = 0
    for chunk in _chunks(ids):
        # Outbox rows only lose their message link on delete: their text must go too.
        messages = select(Message.id).where(Message.conversation_id.in_(chunk))
        await session.execute(delete(OutboxItem).where(OutboxItem.message_id.in_(messages)))
        deleted += await _rowcount(session, delete(Conversation).where(Conversation.id.in_(chunk)))
    return deleted


async def _rowcount(session: AsyncSession, statement: object) -> int:
    result = await session.execute(statement)  # type: ignore[call-overload]
    return int(result.rowcount or 0)


def _chunks(ids: list[int], size: int = 5000) -> list[list[int]]:
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def _fields(result: Deleted) -> dict[str, int]:
    return {
        "conversations": result.conversations,
        "messages": result.messages,
        "updates": result.updates,
        "outbox": result.outbox,
        "customers": result.customers,
    }
