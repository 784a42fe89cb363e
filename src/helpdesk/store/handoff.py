"""Conversation ownership in the database: conditional updates make races safe."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.store.dialect import Executor
from helpdesk.store.models import Agent, Conversation, ConversationEvent, Message, Note
from helpdesk.store.types import utcnow


async def change_state(
    session: Executor,
    conversation_id: int,
    *,
    from_states: Collection[str],
    to_state: str,
    event: str,
    actor: str,
    reason: str | None = None,
    owner: int | None = None,
    values: dict[str, Any] | None = None,
) -> str | None:
    """Move the conversation if it is in one of `from_states` (and, with `owner`, is
    unassigned or assigned to that agent). Returns the previous state, or None when the
    conversation was not in a state that allows the move: of two agents claiming at
    once, exactly one UPDATE matches.
    """
    current = await session.scalar(
        select(Conversation.state).where(Conversation.id == conversation_id)
    )
    if current is None or current not in from_states:
        return None
    condition = [Conversation.id == conversation_id, Conversation.state == current]
    if owner is not None:
        condition.append(
            (Conversation.assigned_agent_id.is_(None)) | (Conversation.assigned_agent_id == owner)
        )
    result = await session.execute(
        update(Conversation)
        .where(*condition)
        .values(state=to_state, updated_at=utcnow(), **(values or {}))
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    await session.execute(
        insert(ConversationEvent).values(
            conversation_id=conversation_id,
            event=event,
            from_state=current,
            to_state=to_state,
            actor=actor,
            reason=reason,
            at=utcnow(),
        )
    )
    return current


async def add_note(session: AsyncSession, conversation_id: int, agent_id: int, text: str) -> int:
    note_id = await session.scalar(
        insert(Note)
        .values(conversation_id=conversation_id, agent_id=agent_id, text=text, created_at=utcnow())
        .returning(Note.id)
    )
    assert note_id is not None
    return int(note_id)


async def waiting_position(session: Executor, conversation_id: int) -> int:
    """1-based place in the waiting queue, by escalation time."""
    escalated_at = await session.scalar(
        select(Conversation.escalated_at).where(Conversation.id == conversation_id)
    )
    if escalated_at is None:
        return 1
    ahead = await session.scalar(
        select(func.count())
        .select_from(Conversation)
        .where(Conversation.state == "waiting", Conversation.escalated_at < escalated_at)
    )
    return int(ahead or 0) + 1


async def events_of(session: AsyncSession, conversation_id: int) -> Sequence[ConversationEvent]:
    rows = await session.scalars(
        select(ConversationEvent)
        .where(ConversationEvent.conversation_id == conversation_id)
        .order_by(ConversationEvent.id)
    )
    return rows.all()


async def notes_of(session: AsyncSession, conversation_id: int) -> Sequence[Note]:
    rows = await session.scalars(
        select(Note).where(Note.conversation_id == conversation_id).order_by(Note.id)
    )
    return rows.all()


async def agents_available(session: Executor) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(Agent)
        .where(Agent.available.is_(True), Agent.active.is_(True))
    )
    return int(count or 0)


async def last_messages(
    session: AsyncSession, conversation_ids: list[int]
) -> dict[int, str | None]:
    """Each conversation's latest message text."""
    if not conversation_ids:
        return {}
    latest = (
        select(Message.conversation_id, Message.text)
        .where(Message.conversation_id.in_(conversation_ids))
        .order_by(Message.conversation_id, Message.id.desc())
    )
    found: dict[int, str | None] = {}
    for conversation_id, text in (await session.execute(latest)).all():
        found.setdefault(conversation_id, text)
    return found
