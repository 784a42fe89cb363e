"""Raw updates: recorded idempotently before acknowledging, then processed once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.domain import IncomingMessage
from helpdesk.store.dialect import Executor, insert_for, prepared
from helpdesk.store.models import RawUpdate, tables
from helpdesk.store.types import utcnow


@prepared
def _insert_update(dialect: str) -> Any:
    return (
        insert_for(dialect, tables.updates)
        .on_conflict_do_nothing(index_elements=["channel", "update_id"])
        .returning(tables.updates.c.id)
    )


_MARK_PROCESSED = (
    update(tables.updates)
    .where(tables.updates.c.id == bindparam("row_id"))
    .values(status=bindparam("new_status"), processed_at=bindparam("at"))
)


async def record_update(
    session: Executor, message: IncomingMessage, payload: dict[str, Any]
) -> int | None:
    """Store an update; return its row id, or None when this update_id was seen before."""
    values = {
        "channel": message.channel,
        "update_id": message.update_id,
        "chat_id": message.chat_id,
        "user_id": message.user_id,
        "message_id": message.message_id,
        "username": message.username,
        "language_code": message.language_code,
        "kind": message.kind.value,
        "text": message.text,
        "caption": message.caption,
        "file_id": message.file_id,
        "sent_at": message.sent_at,
        "received_at": utcnow(),
        "payload": payload,
        "status": "pending",
    }
    row_id: int | None = (
        await session.execute(_insert_update(session), values)
    ).scalar_one_or_none()
    return row_id


async def record_invalid_update(session: Executor, channel: str, payload: Any, error: str) -> int:
    """Keep a payload we could not understand, so nothing a customer sent is silently lost."""
    statement = (
        insert(RawUpdate)
        .values(
            channel=channel,
            kind="invalid",
            payload=payload,
            status="invalid",
            error=error[:2000],
            received_at=utcnow(),
        )
        .returning(RawUpdate.id)
    )
    row_id: int = (await session.execute(statement)).scalar_one()
    return row_id


async def get_update(session: AsyncSession, row_id: int) -> RawUpdate | None:
    return await session.get(RawUpdate, row_id)


async def mark_processed(session: Executor, row_id: int, status: str = "processed") -> None:
    await session.execute(_MARK_PROCESSED, {"row_id": row_id, "new_status": status, "at": utcnow()})


async def mark_failed(session: AsyncSession, row_id: int, error: str) -> None:
    await session.execute(
        update(RawUpdate).where(RawUpdate.id == row_id).values(status="failed", error=error[:2000])
    )


async def pending_updates(session: Executor, channel: str) -> Sequence[tuple[int, int | None]]:
    """(row id, chat id) of updates received but not yet processed, oldest first."""
    rows = await session.execute(
        select(RawUpdate.id, RawUpdate.chat_id)
        .where(RawUpdate.channel == channel, RawUpdate.status == "pending")
        .order_by(RawUpdate.id)
    )
    return [(row_id, chat_id) for row_id, chat_id in rows.all()]


async def next_update_offset(session: AsyncSession, channel: str) -> int | None:
    """The getUpdates offset that confirms everything already stored."""
    highest = await session.scalar(
        select(func.max(RawUpdate.update_id)).where(RawUpdate.channel == channel)
    )
    return None if highest is None else int(highest) + 1
