"""Customers, conversations and their transcripts.

The per-message path uses single Core statements on the tables (upserts with
RETURNING): a message costs a handful of round trips and no ORM machinery.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, insert, literal_column, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.domain import Answer, Author, Direction, IncomingMessage, MessageKind
from helpdesk.store.dialect import upsert
from helpdesk.store.models import Conversation, Customer, tables
from helpdesk.store.types import utcnow

PROFILE_FIELDS = ("username", "first_name", "last_name", "language_code")


@dataclass(frozen=True, slots=True)
class CustomerRef:
    id: int
    first_name: str | None


@dataclass(frozen=True, slots=True)
class ConversationRef:
    id: int
    state: str


async def upsert_customer(session: AsyncSession, incoming: IncomingMessage) -> CustomerRef:
    external_id = incoming.user_id if incoming.user_id is not None else incoming.chat_id
    now = utcnow()
    customers = tables.customers
    statement = upsert(session, customers).values(
        channel=incoming.channel,
        external_id=external_id,
        created_at=now,
        last_seen_at=now,
        **{name: getattr(incoming, name) for name in PROFILE_FIELDS},
    )
    # Profile fields follow what the channel told us last; NULL means "not sent", not "erased".
    # `excluded.x` spelled out: `statement.excluded` would build an alias of the table per call.
    changes: dict[str, Any] = {
        name: func.coalesce(literal_column(f"excluded.{name}"), customers.c[name])
        for name in PROFILE_FIELDS
    }
    changes["last_seen_at"] = now
    statement = statement.on_conflict_do_update(
        index_elements=["channel", "external_id"], set_=changes
    ).returning(customers.c.id, customers.c.first_name)
    row = (await session.execute(statement)).one()
    return CustomerRef(id=row.id, first_name=row.first_name)


async def conversation_with_customer(
    session: AsyncSession, conversation_id: int
) -> tuple[Conversation, Customer] | None:
    """A conversation and its customer as ORM objects (pages and alerts, not the hot path)."""
    row = (
        await session.execute(
            select(Conversation, Customer)
            .join(Customer, Customer.id == Conversation.customer_id)
            .where(Conversation.id == conversation_id)
        )
    ).one_or_none()
    return None if row is None else (row[0], row[1])


async def open_conversation(
    session: AsyncSession, customer_id: int, channel: str, chat_id: int
) -> ConversationRef:
    """The chat's open conversation, or a new one."""
    conversations = tables.conversations
    row = (
        await session.execute(
            select(conversations.c.id, conversations.c.state)
            .where(
                conversations.c.channel == channel,
                conversations.c.chat_id == chat_id,
                conversations.c.closed_at.is_(None),
            )
            .order_by(conversations.c.id.desc())
            .limit(1)
        )
    ).one_or_none()
    if row is not None:
        return ConversationRef(id=row.id, state=row.state)
    now = utcnow()
    new_id = await session.scalar(
        insert(conversations)
        .values(
            customer_id=customer_id,
            channel=channel,
            chat_id=chat_id,
            state="bot",
            needs_human=False,
            created_at=now,
            updated_at=now,
        )
        .returning(conversations.c.id)
    )
    assert new_id is not None
    return ConversationRef(id=new_id, state="bot")


async def add_customer_message(
    session: AsyncSession,
    conversation_id: int,
    incoming: IncomingMessage,
    update_row_id: int | None,
) -> int:
    """Record the message once: re-processing the same update returns the same row."""
    messages = tables.messages
    statement = (
        upsert(session, messages)
        .values(
            conversation_id=conversation_id,
            update_id=update_row_id,
            direction=Direction.INBOUND.value,
            author=Author.CUSTOMER.value,
            kind=incoming.kind.value,
            text=incoming.text,
            caption=incoming.caption,
            file_id=incoming.file_id,
            created_at=incoming.sent_at,
        )
        .on_conflict_do_nothing(index_elements=["update_id"])
        .returning(messages.c.id)
    )
    message_id = await session.scalar(statement)
    if message_id is None:
        message_id = await session.scalar(
            select(messages.c.id).where(messages.c.update_id == update_row_id)
        )
    assert message_id is not None
    return int(message_id)


async def add_bot_message(session: AsyncSession, conversation_id: int, answer: Answer) -> int:
    messages = tables.messages
    message_id = await session.scalar(
        insert(messages)
        .values(
            conversation_id=conversation_id,
            direction=Direction.OUTBOUND.value,
            author=Author.BOT.value,
            kind=MessageKind.TEXT.value,
            text=answer.text,
            created_at=utcnow(),
            confidence=answer.confidence,
            sources=[asdict(source) for source in answer.sources],
            responder=answer.responder,
            model=answer.model,
            latency_ms=answer.latency_ms,
            prompt_tokens=answer.prompt_tokens,
            completion_tokens=answer.completion_tokens,
            needs_human=answer.needs_human,
            reason=answer.reason,
        )
        .returning(messages.c.id)
    )
    assert message_id is not None
    return int(message_id)


async def add_system_message(session: AsyncSession, conversation_id: int, text: str) -> int:
    """A canned reply (greeting, help, media notice): part of the transcript, not an answer."""
    messages = tables.messages
    message_id = await session.scalar(
        insert(messages)
        .values(
            conversation_id=conversation_id,
            direction=Direction.OUTBOUND.value,
            author=Author.SYSTEM.value,
            kind=MessageKind.TEXT.value,
            text=text,
            created_at=utcnow(),
        )
        .returning(messages.c.id)
    )
    assert message_id is not None
    return int(message_id)


@dataclass(frozen=True, slots=True)
class HistoryRow:
    author: str
    text: str
    created_at: Any
    confidence: float | None


async def recent_history(
    session: AsyncSession, conversation_id: int, limit: int, before_id: int
) -> list[HistoryRow]:
    """The last `limit` text messages before `before_id`, oldest first, with timing."""
    columns = tables.messages.c
    rows = (
        await session.execute(
            select(columns.author, columns.text, columns.created_at, columns.confidence)
            .where(
                columns.conversation_id == conversation_id,
                columns.text.is_not(None),
                columns.id < before_id,
            )
            .order_by(columns.id.desc())
            .limit(limit)
        )
    ).all()
    return [
        HistoryRow(author=author, text=text or "", created_at=at, confidence=confidence)
        for author, text, at, confidence in reversed(rows)
    ]


async def flag_for_human(session: AsyncSession, conversation_id: int, reason: str | None) -> None:
    values: dict[str, Any] = {"needs_human": True, "updated_at": utcnow()}
    if reason:
        values["escalation_reason"] = reason
    conversations = tables.conversations
    await session.execute(
        update(conversations).where(conversations.c.id == conversation_id).values(**values)
    )
