"""Handoff operations: escalate, claim, reply, note, hand back, resolve.

The read side (lists and detail for the console and the API) is in queries.py;
the methods here that read only delegate to it, so callers keep one service.

Every operation is one transaction; the state change itself is a conditional
UPDATE (see store/handoff.py), so two agents clicking "claim" at once cannot both
win. Events are published after commit, for the console's live views.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

import structlog
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.domain import Author, ConversationState
from helpdesk.handoff import queries
from helpdesk.handoff.events import EventBus
from helpdesk.handoff.views import ConversationDetail, ConversationSummary
from helpdesk.store import handoff as handoff_store
from helpdesk.store import outbox
from helpdesk.store.dialect import Executor
from helpdesk.store.models import Conversation, Message
from helpdesk.store.types import utcnow

log = structlog.get_logger(__name__)

BOT, WAITING, HUMAN, RESOLVED = (state.value for state in ConversationState)


class NotFound(LookupError):
    pass


class Conflict(RuntimeError):
    """The conversation is not in a state that allows this (e.g. claimed by someone else)."""


class Renderer(Protocol):
    def render(self, markdown: str) -> list[str]: ...


class HandoffService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        events: EventBus,
        *,
        outlets: Mapping[str, Renderer],
        on_outbox: Callable[[str], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self.events = events
        self._outlets = outlets
        self._on_outbox = on_outbox

    async def escalate(
        self, session: Executor, conversation_id: int, reason: str, detail: str, *, actor: str
    ) -> bool:
        """Hand a bot conversation to the team, inside the caller's transaction."""
        now = utcnow()
        previous = await handoff_store.change_state(
            session,
            conversation_id,
            from_states=(BOT,),
            to_state=WAITING,
            event="escalate",
            actor=actor,
            reason=f"{reason}: {detail}" if detail else reason,
            values={
                "needs_human": True,
                "escalation_reason": reason,
                "escalation_detail": detail,
                "escalated_at": now,
                "assigned_agent_id": None,
            },
        )
        return previous is not None

    async def claim(self, conversation_id: int, agent_id: int) -> None:
        await self._move(
            conversation_id,
            agent_id,
            from_states=(WAITING, BOT, HUMAN),
            to_state=HUMAN,
            event="claim",
            owner=agent_id,
            values={"assigned_agent_id": agent_id, "claimed_at": utcnow()},
        )

    async def release(self, conversation_id: int, agent_id: int) -> None:
        await self._move(
            conversation_id,
            agent_id,
            from_states=(WAITING, HUMAN),
            to_state=BOT,
            event="release",
            owner=agent_id,
            values={"assigned_agent_id": None, "needs_human": False},
        )

    async def resolve(self, conversation_id: int, agent_id: int) -> None:
        now = utcnow()
        await self._move(
            conversation_id,
            agent_id,
            from_states=(BOT, WAITING, HUMAN),
            to_state=RESOLVED,
            event="resolve",
            owner=agent_id,
            values={"resolved_at": now, "closed_at": now, "needs_human": False},
        )

    async def _move(
        self,
        conversation_id: int,
        agent_id: int,
        *,
        from_states: tuple[str, ...],
        to_state: str,
        event: str,
        owner: int,
        values: dict[str, object],
    ) -> None:
        async with self._sessions.begin() as session:
            previous = await handoff_store.change_state(
                session,
                conversation_id,
                from_states=from_states,
                to_state=to_state,
                event=event,
                actor=f"agent:{agent_id}",
                owner=owner,
                values=values,
            )
            if previous is None:
                await self._explain_refusal(session, conversation_id, event)
        log.info(
            "handoff.state", conversation_id=conversation_id, transition=event, agent_id=agent_id
        )
        self.events.publish(
            "state",
            conversation_id=conversation_id,
            state=to_state,
            previous=previous,
            agent_id=agent_id,
        )

    async def _explain_refusal(
        self, session: AsyncSession, conversation_id: int, event: str
    ) -> None:
        row = (
            await session.execute(
                select(Conversation.state, Conversation.assigned_agent_id).where(
                    Conversation.id == conversation_id
                )
            )
        ).one_or_none()
        if row is None:
            raise NotFound(f"no conversation {conversation_id}")
        owner = f" by agent {row.assigned_agent_id}" if row.assigned_agent_id else ""
        raise Conflict(f"cannot {event}: the conversation is {row.state}{owner}")

    async def take_over(
        self, conversation_id: int, admin_id: int, *, assignee: int | None = None, reason: str
    ) -> int | None:
        """An admin moves a conversation to themselves (or `assignee`), whoever holds it.

        Unlike `claim`, no owner condition: that is the point. The audit row names the
        admin, the previous owner and the reason. Returns the previous owner.
        """
        new_owner = admin_id if assignee is None else assignee
        async with self._sessions.begin() as session:
            previous_owner = await session.scalar(
                select(Conversation.assigned_agent_id).where(Conversation.id == conversation_id)
            )
            was = f"agent {previous_owner}" if previous_owner else "nobody"
            to = "" if new_owner == admin_id else f" for agent {new_owner}"
            previous = await handoff_store.change_state(
                session,
                conversation_id,
                from_states=(BOT, WAITING, HUMAN),
                to_state=HUMAN,
                event="takeover",
                actor=f"agent:{admin_id}",
                reason=f"taken over from {was}{to}: {reason}",
                values={"assigned_agent_id": new_owner, "claimed_at": utcnow()},
            )
            if previous is None:
                await self._explain_refusal(session, conversation_id, "take over")
        log.info(
            "handoff.takeover",
            conversation_id=conversation_id,
            admin_id=admin_id,
            from_agent=previous_owner,
            to_agent=new_owner,
        )
        self.events.publish(
            "state",
            conversation_id=conversation_id,
            state=HUMAN,
            previous=previous,
            agent_id=new_owner,
            reason="takeover",
        )
        return previous_owner

    async def reply(self, conversation_id: int, agent_id: int, text: str) -> int:
        """An agent's message to the customer, sent through the channel's outbox.

        Replying to a conversation nobody holds (waiting, or still the bot's) claims it
        in the same transaction: otherwise the bot would answer the customer's next
        message too, or a colleague could answer as well.
        """
        claimed_from: str | None = None
        async with self._sessions.begin() as session:
            # Core statements, not ORM objects: this is the hot path of every reply.
            conversation = (
                await session.execute(
                    select(
                        Conversation.state,
                        Conversation.assigned_agent_id,
                        Conversation.channel,
                        Conversation.chat_id,
                    ).where(Conversation.id == conversation_id)
                )
            ).one_or_none()
            if conversation is None:
                raise NotFound(f"no conversation {conversation_id}")
            if conversation.state == RESOLVED:
                raise Conflict("cannot reply: the conversation is resolved")
            if conversation.assigned_agent_id not in (None, agent_id):
                raise Conflict(
                    f"cannot reply: the conversation is claimed by agent "
                    f"{conversation.assigned_agent_id}"
                )
            if conversation.assigned_agent_id is None:
                claimed_from = await handoff_store.change_state(
                    session,
                    conversation_id,
                    from_states=(BOT, WAITING),
                    to_state=HUMAN,
                    event="claim",
                    actor=f"agent:{agent_id}",
                    reason="replied",
                    owner=agent_id,
                    values={"assigned_agent_id": agent_id, "claimed_at": utcnow()},
                )
                if claimed_from is None:  # a colleague claimed it a moment ago
                    await self._explain_refusal(session, conversation_id, "reply")
            new_id = await session.scalar(
                insert(Message)
                .values(
                    conversation_id=conversation_id,
                    direction="out",
                    author=Author.AGENT.value,
                    agent_id=agent_id,
                    kind="text",
                    text=text,
                    created_at=utcnow(),
                )
                .returning(Message.id)
            )
            assert new_id is not None
            message_id = int(new_id)
            outlet = self._outlets.get(conversation.channel)
            if outlet is not None:
                await outbox.enqueue(
                    session,
                    channel=conversation.channel,
                    chat_id=conversation.chat_id,
                    parts=outlet.render(text),
                    dedup_prefix=f"agent:{message_id}",
                    message_id=message_id,
                )
            channel = conversation.channel
        if self._on_outbox is not None and channel in self._outlets:
            self._on_outbox(channel)
        if claimed_from is not None:
            self.events.publish(
                "state",
                conversation_id=conversation_id,
                state=HUMAN,
                previous=claimed_from,
                agent_id=agent_id,
            )
        self.events.publish(
            "message",
            conversation_id=conversation_id,
            message_id=message_id,
            author="agent",
            agent_id=agent_id,
            text=text,
        )
        return message_id

    async def add_note(self, conversation_id: int, agent_id: int, text: str) -> int:
        async with self._sessions.begin() as session:
            if await session.get(Conversation, conversation_id) is None:
                raise NotFound(f"no conversation {conversation_id}")
            note_id = await handoff_store.add_note(session, conversation_id, agent_id, text)
        self.events.publish(
            "note", conversation_id=conversation_id, note_id=note_id, agent_id=agent_id
        )
        return note_id

    async def list_conversations(
        self, *, state: str | None = None, assigned_to: int | None = None, limit: int = 100
    ) -> list[ConversationSummary]:
        async with self._sessions() as session:
            return await queries.list_conversations(
                session, state=state, assigned_to=assigned_to, limit=limit
            )

    async def get_conversation(self, conversation_id: int) -> ConversationDetail:
        async with self._sessions() as session:
            detail = await queries.conversation_detail(session, conversation_id)
        if detail is None:
            raise NotFound(f"no conversation {conversation_id}")
        return detail
