"""The outbox: every message to send is a row first, so a crash or an outage loses none."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.store.dialect import upsert
from helpdesk.store.models import tables
from helpdesk.store.types import utcnow


@dataclass(frozen=True, slots=True)
class Queued:
    """A pending outbox row, as the dispatcher needs it to send."""

    id: int
    channel: str
    chat_id: int
    dedup_key: str
    body: str
    reply_markup: dict[str, Any] | None
    attempts: int
    next_attempt_at: datetime


_COLUMNS = (
    tables.outbox.c.id,
    tables.outbox.c.channel,
    tables.outbox.c.chat_id,
    tables.outbox.c.dedup_key,
    tables.outbox.c.body,
    tables.outbox.c.reply_markup,
    tables.outbox.c.attempts,
    tables.outbox.c.next_attempt_at,
)


async def enqueue(
    session: AsyncSession,
    *,
    channel: str,
    chat_id: int,
    parts: Sequence[str],
    dedup_prefix: str,
    message_id: int | None = None,
    reply_markup: dict[str, Any] | None = None,
) -> list[Queued]:
    """Add one row per part (the reply markup rides on the last); the rows added, in order.

    Re-processing a message after a crash must not queue its reply twice: rows already
    there are left alone and not returned.
    """
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
    if not rows:
        return []
    statement = (
        upsert(session, tables.outbox)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["dedup_key"])
        .returning(*_COLUMNS)
    )
    added = [Queued(*row) for row in (await session.execute(statement)).all()]
    return sorted(added, key=lambda item: item.id)


async def pending_before(session: AsyncSession, channel: str, chat_id: int, item_id: int) -> bool:
    """Whether the chat has an older row still to send (then a newer one must wait)."""
    table = tables.outbox
    older = exists().where(
        table.c.status == "pending",
        table.c.channel == channel,
        table.c.chat_id == chat_id,
        table.c.id < item_id,
    )
    return bool(await session.scalar(select(older)))


async def heads_of_queues(
    session: AsyncSession, channel: str, *, busy_chats: Collection[int], limit: int
) -> tuple[list[Queued], bool]:
    """The oldest pending row of each chat not already being sent to, among the oldest
    `limit` pending rows; and whether more pending rows lay beyond those.

    Only a chat's oldest row may go out, so a chat's messages keep their order even
    when one of them is waiting for a retry.
    """
    table = tables.outbox
    query = select(*_COLUMNS).where(table.c.channel == channel, table.c.status == "pending")
    if busy_chats:
        query = query.where(table.c.chat_id.not_in(list(busy_chats)))
    rows = (await session.execute(query.order_by(table.c.id).limit(limit))).all()
    heads: dict[int, Queued] = {}
    for row in rows:
        heads.setdefault(row.chat_id, Queued(*row))
    return list(heads.values()), len(rows) == limit


async def mark_sent(session: AsyncSession, item_id: int, external_id: int | None) -> None:
    table = tables.outbox
    await session.execute(
        update(table)
        .where(table.c.id == item_id)
        .values(
            status="sent", sent_at=utcnow(), external_id=external_id, attempts=table.c.attempts + 1
        )
    )


async def reschedule(session: AsyncSession, item_id: int, delay: float, error: str) -> None:
    table = tables.outbox
    await session.execute(
        update(table)
        .where(table.c.id == item_id)
        .values(
            next_attempt_at=utcnow() + timedelta(seconds=delay),
            attempts=table.c.attempts + 1,
            last_error=error[:2000],
        )
    )


async def mark_failed(session: AsyncSession, item_id: int, error: str) -> None:
    table = tables.outbox
    await session.execute(
        update(table)
        .where(table.c.id == item_id)
        .values(status="failed", attempts=table.c.attempts + 1, last_error=error[:2000])
    )


def earliest(items: Sequence[Queued]) -> datetime | None:
    return min((item.next_attempt_at for item in items), default=None)
