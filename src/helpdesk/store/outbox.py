"""The outbox: every message to send is a row first, so a crash or an outage loses none."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.store.dialect import upsert
from helpdesk.store.models import OutboxItem
from helpdesk.store.types import utcnow


async def enqueue(
    session: AsyncSession,
    *,
    channel: str,
    chat_id: int,
    parts: Sequence[str],
    dedup_prefix: str,
    message_id: int | None = None,
    reply_markup: dict[str, Any] | None = None,
) -> int:
    """Add one row per part; the reply markup rides on the last part only."""
    now = utcnow()
    rows = [
        {
            "channel": channel,
            "chat_id": chat_id,
            "message_id": message_id,
            "dedup_key": f"{dedup_prefix}:{index}",
            "body": body,
            "reply_markup": reply_markup if index == len(parts) - 1 else None,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for index, body in enumerate(parts)
    ]
    # Re-processing a message after a crash must not queue its reply twice.
    await session.execute(
        upsert(session, OutboxItem).on_conflict_do_nothing(index_elements=["dedup_key"]), rows
    )
    return len(rows)


async def heads_of_queues(
    session: AsyncSession, channel: str, *, busy_chats: Collection[int], limit: int
) -> Sequence[OutboxItem]:
    """The oldest pending row of each chat not already being sent to.

    Only a chat's oldest row may go out, so a chat's messages keep their order even
    when one of them is waiting for a retry.
    """
    query = select(OutboxItem).where(OutboxItem.channel == channel, OutboxItem.status == "pending")
    if busy_chats:
        query = query.where(OutboxItem.chat_id.not_in(list(busy_chats)))
    rows = (await session.scalars(query.order_by(OutboxItem.id).limit(limit))).all()
    heads: dict[int, OutboxItem] = {}
    for row in rows:
        heads.setdefault(row.chat_id, row)
    return list(heads.values())


async def mark_sent(session: AsyncSession, item_id: int, external_id: int | None) -> None:
    await session.execute(
        update(OutboxItem)
        .where(OutboxItem.id == item_id)
        .values(
            status="sent",
            sent_at=utcnow(),
            external_id=external_id,
            attempts=OutboxItem.attempts + 1,
        )
    )


async def reschedule(session: AsyncSession, item_id: int, delay: float, error: str) -> None:
    await session.execute(
        update(OutboxItem)
        .where(OutboxItem.id == item_id)
        .values(
            next_attempt_at=utcnow() + timedelta(seconds=delay),
            attempts=OutboxItem.attempts + 1,
            last_error=error[:2000],
        )
    )


async def mark_failed(session: AsyncSession, item_id: int, error: str) -> None:
    await session.execute(
        update(OutboxItem)
        .where(OutboxItem.id == item_id)
        .values(status="failed", attempts=OutboxItem.attempts + 1, last_error=error[:2000])
    )


def earliest(items: Sequence[OutboxItem]) -> datetime | None:
    return min((item.next_attempt_at for item in items), default=None)
