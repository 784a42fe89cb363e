"""Customers, conversations and their transcripts.

The per-message path uses single Core statements (upserts with RETURNING): a
message costs a handful of round trips and no ORM unit-of-work.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.domain import Answer, Author, Direction, IncomingMessage, MessageKind
from helpdesk.store.dialect import upsert
from helpdesk.store.models import Conversation, Customer, Message
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
    statement = upsert(session, Customer).values(
        channel=incoming.channel,
        external_id=external_id,
        created_at=now,
        last_seen_at=now,
        **{name: getattr(incoming, name) for name in PROFILE_FIELDS},
    )
    # Profile fields follow what the channel told us last; NULL means "not sent", not "erased".
    changes: dict[str, Any] = {
        name: func.coalesce(statement.excluded[name], getattr(Customer, name))
        for name in PROFILE_FIELDS
    }
    changes["last_seen_at"] = now
    statement = statement.on_conflict_do_update(
        index_elements=["channel", "external_id"], set_=changes
    ).returning(Customer.id, Customer.first_name)
    row = (await session.execute(statement)).one()
    return CustomerRef(id=row.id, first_name=row.first_name)


async def open_conversation(
    session: AsyncSession, customer_id: int, channel: str, chat_id: int
) -> ConversationRef:
    """The chat's open conversation, or a new one."""
    row = (
        await session.execute(
            select(Conversation.id, Conversation.state)
            .where(
                Conversation.channel == channel,
                Conversation.chat_id == chat_id,
                Conversation.closed_at.is_(None),
            )
            .order_by(Conversation.id.desc())
            .limit(1)
        )
    ).one_or_none()
    if row is not None:
        return ConversationRef(id=row.id, state=row.state)
    now = utcnow()
    new_id = await session.scalar(
        insert(Conversation)
        .values(
            customer_id=customer_id,
            channel=channel,
            chat_id=chat_id,
            state="bot",
            needs_human=False,
            created_at=now,
            updated_at=now,
        )
        .returning(Conversation.id)
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
    statement = (
        upsert(session, Message)
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
        .returning(Message.id)
    )
    message_id = await session.scalar(statement)
    if message_id is None:
        message_id = await session.scalar(
            select(Message.id).where(Message.update_id == update_row_id)
        )
    assert message_id is not None
    return int(message_id)


async def add_bot_message(session: AsyncSession, conversation_id: int, answer: Answer) -> int:
    message_id = await session.scalar(
        insert(Message)
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
        .returning(Message.id)
    )
    assert message_id is not None
    return int(message_id)


async def add_system_message(session: AsyncSession, conversation_id: int, text: str) -> int:
    """A canned reply (greeting, help, media notice): part of the transcript, not an answer."""
    message_id = await session.scalar(
        insert(Message)
        .values(
            conversation_id=conversation_id,
            direction=Direction.OUTBOUND.value,
            author=Author.SYSTEM.value,
            kind=MessageKind.TEXT.value,
            text=text,
            created_at=utcnow(),
        )
        .returning(Message.id)
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
    rows = (
        await session.execute(
            select(Message.author, Message.text, Message.created_at, Message.confidence)
            .where(
                Message.conversation_id == conversation_id,
                Message.text.is_not(None),
                Message.id < before_id,
            )
            .order_by(Message.id.desc())
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
    await session.execute(
        update(Conversation).where(Conversation.id == conversation_id).values(**values)
    )
