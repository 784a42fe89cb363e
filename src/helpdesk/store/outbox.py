"""The outbox: every message to send is a row first, so a crash or an outage loses none."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, exists, select, update

from helpdesk.store.dialect import Executor, insert_for, prepared
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


@prepared
def _insert_rows(dialect: str) -> Any:
    return (
        insert_for(dialect, tables.outbox)
        .on_conflict_do_nothing(index_elements=["dedup_key"])
        .returning(*_COLUMNS)
    )


_PENDING_BEFORE = select(
    exists().where(
        tables.outbox.c.status == "pending",
        tables.outbox.c.channel == bindparam("channel"),
        tables.outbox.c.chat_id == bindparam("chat_id"),
        tables.outbox.c.id < bindparam("item_id"),
    )
)
_MARK_SENT = (
    update(tables.outbox)
    .where(tables.outbox.c.id == bindparam("item_id"))
    .values(
        status="sent",
        sent_at=bindparam("at"),
        external_id=bindparam("sent_as"),
        attempts=tables.outbox.c.attempts + 1,
    )
)


async def enqueue(
    session: Executor,
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
    # Several parts go as one executemany (SQLAlchemy batches them into one INSERT).
    result = await session.execute(_insert_rows(session), rows if len(rows) > 1 else rows[0])
    added = [Queued(*row) for row in result.all()]
    return sorted(added, key=lambda item: item.id)


async def pending_before(session: Executor, channel: str, chat_id: int, item_id: int) -> bool:
    """Whether the chat has an older row still to send (then a newer one must wait)."""
    found = {"channel": channel, "chat_id": chat_id, "item_id": item_id}
    return bool(await session.scalar(_PENDING_BEFORE, found))


async def heads_of_queues(
    session: Executor, channel: str, *, busy_chats: Collection[int], limit: int
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


async def mark_sent(session: Executor, item_id: int, external_id: int | None) -> None:
    await session.execute(_MARK_SENT, {"item_id": item_id, "at": utcnow(), "sent_as": external_id})


async def reschedule(session: Executor, item_id: int, delay: float, error: str) -> None:
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


async def mark_failed(session: Executor, item_id: int, error: str) -> None:
    table = tables.outbox
    await session.execute(
        update(table)
        .where(table.c.id == item_id)
        .values(status="failed", attempts=table.c.attempts + 1, last_error=error[:2000])
    )


def earliest(items: Sequence[Queued]) -> datetime | None:
    return min((item.next_attempt_at for item in items), default=None)
