"""Customers, conversations and their transcripts.

The per-message path uses single Core statements on the tables (upserts with
RETURNING): a message costs a handful of round trips and no ORM machinery.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import bindparam, func, insert, literal_column, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.domain import Answer, Author, Direction, IncomingMessage, MessageKind
from helpdesk.store.dialect import Executor, insert_for, prepared
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


@prepared
def _upsert_customer(dialect: str) -> Any:
    customers = tables.customers
    # Profile fields follow what the channel told us last; NULL means "not sent", not "erased".
    # `excluded.x` spelled out: `statement.excluded` would build an alias of the table.
    changes: dict[str, Any] = {
        name: func.coalesce(literal_column(f"excluded.{name}"), customers.c[name])
        for name in PROFILE_FIELDS
    }
    changes["last_seen_at"] = literal_column("excluded.last_seen_at")
    return (
        insert_for(dialect, customers)
        .on_conflict_do_update(index_elements=["channel", "external_id"], set_=changes)
        .returning(customers.c.id, customers.c.first_name)
    )


async def upsert_customer(session: Executor, incoming: IncomingMessage) -> CustomerRef:
    external_id = incoming.user_id if incoming.user_id is not None else incoming.chat_id
    now = utcnow()
    values = {
        "channel": incoming.channel,
        "external_id": external_id,
        "created_at": now,
        "last_seen_at": now,
        **{name: getattr(incoming, name) for name in PROFILE_FIELDS},
    }
    row = (await session.execute(_upsert_customer(session), values)).one()
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


_OPEN_CONVERSATION = (
    select(tables.conversations.c.id, tables.conversations.c.state)
    .where(
        tables.conversations.c.channel == bindparam("channel"),
        tables.conversations.c.chat_id == bindparam("chat_id"),
        tables.conversations.c.closed_at.is_(None),
    )
    .order_by(tables.conversations.c.id.desc())
    .limit(1)
)
_NEW_CONVERSATION = insert(tables.conversations).returning(tables.conversations.c.id)


async def open_conversation(
    session: Executor, customer_id: int, channel: str, chat_id: int
) -> ConversationRef:
    """The chat's open conversation, or a new one."""
    found = {"channel": channel, "chat_id": chat_id}
    row = (await session.execute(_OPEN_CONVERSATION, found)).one_or_none()
    if row is not None:
        return ConversationRef(id=row.id, state=row.state)
    now = utcnow()
    values = {
        "customer_id": customer_id,
        "channel": channel,
        "chat_id": chat_id,
        "state": "bot",
        "needs_human": False,
        "created_at": now,
        "updated_at": now,
    }
    new_id = await session.scalar(_NEW_CONVERSATION, values)
    assert new_id is not None
    return ConversationRef(id=new_id, state="bot")


@prepared
def _insert_customer_message(dialect: str) -> Any:
    messages = tables.messages
    return (
        insert_for(dialect, messages)
        .on_conflict_do_nothing(index_elements=["update_id"])
        .returning(messages.c.id)
    )


_MESSAGE_OF_UPDATE = select(tables.messages.c.id).where(
    tables.messages.c.update_id == bindparam("update_row_id")
)
_INSERT_MESSAGE = insert(tables.messages).returning(tables.messages.c.id)


async def add_customer_message(
    session: Executor,
    conversation_id: int,
    incoming: IncomingMessage,
    update_row_id: int | None,
) -> int:
    """Record the message once: re-processing the same update returns the same row."""
    values = {
        "conversation_id": conversation_id,
        "update_id": update_row_id,
        "direction": Direction.INBOUND.value,
        "author": Author.CUSTOMER.value,
        "kind": incoming.kind.value,
        "text": incoming.text,
        "caption": incoming.caption,
        "file_id": incoming.file_id,
        "created_at": incoming.sent_at,
    }
    message_id = await session.scalar(_insert_customer_message(session), values)
    if message_id is None:
        message_id = await session.scalar(_MESSAGE_OF_UPDATE, {"update_row_id": update_row_id})
    assert message_id is not None
    return int(message_id)


async def add_bot_message(session: Executor, conversation_id: int, answer: Answer) -> int:
    return await _add_outbound(
        session,
        conversation_id,
        Author.BOT,
        answer.text,
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


async def add_system_message(session: Executor, conversation_id: int, text: str) -> int:
    """A canned reply (greeting, help, media notice): part of the transcript, not an answer."""
    return await _add_outbound(session, conversation_id, Author.SYSTEM, text)


async def _add_outbound(
    session: Executor, conversation_id: int, author: Author, text: str, **details: Any
) -> int:
    values = {
        "conversation_id": conversation_id,
        "direction": Direction.OUTBOUND.value,
        "author": author.value,
        "kind": MessageKind.TEXT.value,
        "text": text,
        "created_at": utcnow(),
        **details,
    }
    message_id = await session.scalar(_INSERT_MESSAGE, values)
    assert message_id is not None
    return int(message_id)


@dataclass(frozen=True, slots=True)
class HistoryRow:
    author: str
    text: str
    created_at: Any
    confidence: float | None


_RECENT_HISTORY = (
    select(
        tables.messages.c.author,
        tables.messages.c.text,
        tables.messages.c.created_at,
        tables.messages.c.confidence,
    )
    .where(
        tables.messages.c.conversation_id == bindparam("conversation_id"),
        tables.messages.c.text.is_not(None),
        tables.messages.c.id < bindparam("before_id"),
    )
    .order_by(tables.messages.c.id.desc())
    .limit(bindparam("row_limit"))
)


async def recent_history(
    session: Executor, conversation_id: int, limit: int, before_id: int
) -> list[HistoryRow]:
    """The last `limit` text messages before `before_id`, oldest first, with timing."""
    found = {"conversation_id": conversation_id, "before_id": before_id, "row_limit": limit}
    rows = (await session.execute(_RECENT_HISTORY, found)).all()
    return [
        HistoryRow(author=author, text=text or "", created_at=at, confidence=confidence)
        for author, text, at, confidence in reversed(rows)
    ]


async def flag_for_human(session: Executor, conversation_id: int, reason: str | None) -> None:
    values: dict[str, Any] = {"needs_human": True, "updated_at": utcnow()}
    if reason:
        values["escalation_reason"] = reason
    conversations = tables.conversations
    await session.execute(
        update(conversations).where(conversations.c.id == conversation_id).values(**values)
    )
