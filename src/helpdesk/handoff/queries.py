"""What agents see: conversation lists and detail, read into the view dataclasses.

Read-only, in the caller's session: the write side (service.py) owns transactions
and events; nothing here changes a row.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.domain import ConversationState
from helpdesk.handoff.views import (
    ConversationDetail,
    ConversationSummary,
    CustomerView,
    EventView,
    MessageView,
    NoteView,
)
from helpdesk.store import conversations as conversation_store
from helpdesk.store import handoff as handoff_store
from helpdesk.store.models import Conversation, Customer, Message


async def list_conversations(
    session: AsyncSession,
    *,
    state: str | None = None,
    assigned_to: int | None = None,
    limit: int = 100,
) -> list[ConversationSummary]:
    query = select(Conversation, Customer).join(Customer, Customer.id == Conversation.customer_id)
    if state is not None:
        query = query.where(Conversation.state == state)
    if assigned_to is not None:
        query = query.where(Conversation.assigned_agent_id == assigned_to)
    # The waiting queue is first come, first served; every other list is most recent first.
    order = (
        Conversation.escalated_at
        if state == ConversationState.WAITING.value
        else Conversation.updated_at.desc()
    )
    rows = (await session.execute(query.order_by(order).limit(limit))).all()
    last = await handoff_store.last_messages(session, [conversation.id for conversation, _ in rows])
    return [
        _summary(conversation, customer, last.get(conversation.id))
        for conversation, customer in rows
    ]


async def conversation_detail(
    session: AsyncSession, conversation_id: int
) -> ConversationDetail | None:
    """None when there is no such conversation (the service turns that into NotFound)."""
    row = await conversation_store.conversation_with_customer(session, conversation_id)
    if row is None:
        return None
    conversation, customer = row
    messages = (
        await session.scalars(
            select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id)
        )
    ).all()
    notes = await handoff_store.notes_of(session, conversation_id)
    events = await handoff_store.events_of(session, conversation_id)
    past = (
        await session.scalars(
            select(Conversation.id)
            .where(
                Conversation.customer_id == customer.id,
                Conversation.id != conversation_id,
            )
            .order_by(Conversation.id.desc())
        )
    ).all()
    last = messages[-1].text if messages else None
    return ConversationDetail(
        summary=_summary(conversation, customer, last),
        messages=[_message(message) for message in messages],
        notes=[NoteView(n.id, n.agent_id, n.text, n.created_at) for n in notes],
        events=[
            EventView(e.event, e.from_state, e.to_state, e.actor, e.reason, e.at) for e in events
        ],
        past_conversations=list(past),
    )


def _summary(
    conversation: Conversation, customer: Customer, last: str | None
) -> ConversationSummary:
    name = " ".join(part for part in (customer.first_name, customer.last_name) if part) or None
    return ConversationSummary(
        id=conversation.id,
        state=conversation.state,
        channel=conversation.channel,
        chat_id=conversation.chat_id,
        customer=CustomerView(
            id=customer.id,
            channel=customer.channel,
            external_id=customer.external_id,
            name=name,
            username=customer.username,
            language_code=customer.language_code,
            # An unproven number is only a claim: agents see it once verified.
            phone_e164=customer.phone_e164 if customer.phone_verified_at else None,
            phone_verified_at=customer.phone_verified_at,
        ),
        needs_human=conversation.needs_human,
        escalation_reason=conversation.escalation_reason,
        escalation_detail=conversation.escalation_detail,
        escalated_at=conversation.escalated_at,
        assigned_agent_id=conversation.assigned_agent_id,
        updated_at=conversation.updated_at,
        last_message=last,
    )


def _message(message: Message) -> MessageView:
    return MessageView(
        id=message.id,
        author=message.author,
        direction=message.direction,
        kind=message.kind,
        text=message.text,
        caption=message.caption,
        file_id=message.file_id,
        created_at=message.created_at,
        confidence=message.confidence,
        sources=list(message.sources or []),
        agent_id=message.agent_id,
    )
