"""Customers, conversations and their transcripts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.domain import Answer, Author, Direction, IncomingMessage, MessageKind, Turn
from helpdesk.store.models import Conversation, Customer, Message
from helpdesk.store.types import utcnow


async def upsert_customer(session: AsyncSession, incoming: IncomingMessage) -> Customer:
    external_id = incoming.user_id if incoming.user_id is not None else incoming.chat_id
    customer = await session.scalar(
        select(Customer).where(
            Customer.channel == incoming.channel, Customer.external_id == external_id
        )
    )
    if customer is None:
        customer = Customer(channel=incoming.channel, external_id=external_id)
        session.add(customer)
    # Profile fields follow what Telegram tells us last; None means "not sent", not "erased".
    for attr in ("username", "first_name", "last_name", "language_code"):
        value = getattr(incoming, attr)
        if value is not None:
            setattr(customer, attr, value)
    customer.last_seen_at = utcnow()
    await session.flush()
    return customer


async def open_conversation(
    session: AsyncSession, customer: Customer, channel: str, chat_id: int
) -> Conversation:
    """The chat's open conversation, or a new one."""
    conversation = await session.scalar(
        select(Conversation)
        .where(
            Conversation.channel == channel,
            Conversation.chat_id == chat_id,
            Conversation.closed_at.is_(None),
        )
        .order_by(Conversation.id.desc())
        .limit(1)
    )
    if conversation is None:
        conversation = Conversation(customer_id=customer.id, channel=channel, chat_id=chat_id)
        session.add(conversation)
        await session.flush()
    return conversation


async def inbound_message_for_update(session: AsyncSession, update_row_id: int) -> Message | None:
    return await session.scalar(select(Message).where(Message.update_id == update_row_id))


async def add_customer_message(
    session: AsyncSession,
    conversation: Conversation,
    incoming: IncomingMessage,
    update_row_id: int | None,
) -> Message:
    message = Message(
        conversation_id=conversation.id,
        update_id=update_row_id,
        direction=Direction.INBOUND.value,
        author=Author.CUSTOMER.value,
        kind=incoming.kind.value,
        text=incoming.text,
        caption=incoming.caption,
        file_id=incoming.file_id,
        created_at=incoming.sent_at,
    )
    session.add(message)
    await session.flush()
    return message


async def add_bot_message(
    session: AsyncSession, conversation: Conversation, answer: Answer
) -> Message:
    message = Message(
        conversation_id=conversation.id,
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
    session.add(message)
    await session.flush()
    return message


async def add_system_message(
    session: AsyncSession, conversation: Conversation, text: str
) -> Message:
    """A canned reply (greeting, help, media notice): part of the transcript, not an answer."""
    message = Message(
        conversation_id=conversation.id,
        direction=Direction.OUTBOUND.value,
        author=Author.SYSTEM.value,
        kind=MessageKind.TEXT.value,
        text=text,
        created_at=utcnow(),
    )
    session.add(message)
    await session.flush()
    return message


async def recent_turns(
    session: AsyncSession, conversation_id: int, limit: int, before_id: int | None = None
) -> list[Turn]:
    """The last `limit` text turns before `before_id`, oldest first."""
    query = select(Message.author, Message.text).where(
        Message.conversation_id == conversation_id, Message.text.is_not(None)
    )
    if before_id is not None:
        query = query.where(Message.id < before_id)
    rows = (await session.execute(query.order_by(Message.id.desc()).limit(limit))).all()
    return [Turn(author=Author(author), text=text) for author, text in reversed(rows)]


async def transcript(session: AsyncSession, conversation_id: int) -> Sequence[Message]:
    rows = await session.scalars(
        select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id)
    )
    return rows.all()


def flag_for_human(conversation: Conversation, reason: str | None) -> None:
    conversation.needs_human = True
    conversation.escalation_reason = reason or conversation.escalation_reason
