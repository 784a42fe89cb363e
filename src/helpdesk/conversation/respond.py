"""Handle one customer message: record it, decide, answer, and queue the reply."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.conversation import replies
from helpdesk.domain import (
    Answer,
    ConversationState,
    EscalationReason,
    IncomingMessage,
    MessageKind,
    Turn,
)
from helpdesk.store import conversations as conversation_store
from helpdesk.store import outbox
from helpdesk.store import updates as update_store
from helpdesk.store.conversations import ConversationRef, CustomerRef

log = structlog.get_logger(__name__)


class Brain(Protocol):
    async def answer(
        self, question: str, history: list[Turn] | tuple[Turn, ...] = ()
    ) -> Answer: ...


class Outlet(Protocol):
    """How a channel shows a reply: render Markdown into sendable parts, show typing."""

    def render(self, markdown: str) -> list[str]: ...

    async def typing(self, chat_id: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Reply:
    """Markdown for the customer; `answer` when it came from the brain (or a hand-over)."""

    text: str
    answer: Answer | None = None


Parser = Callable[[dict[str, Any]], IncomingMessage]


class ConversationService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        brain: Brain,
        *,
        company_name: str,
        history_turns: int = 6,
        parsers: Mapping[str, Parser] | None = None,
        outlets: Mapping[str, Outlet] | None = None,
        on_outbox: Callable[[str], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._brain = brain
        self._company = company_name
        self._history_turns = history_turns
        self._parsers = dict(parsers or {})
        self._outlets = dict(outlets or {})
        self._on_outbox = on_outbox
        self._fresh: dict[int, IncomingMessage] = {}

    def remember(self, update_row_id: int, incoming: IncomingMessage) -> None:
        """Keep a just-stored update's parsed form, sparing a database read to process it."""
        self._fresh[update_row_id] = incoming

    async def process_update(self, update_row_id: int) -> None:
        """Process a stored update exactly once (safe to call again after a crash)."""
        incoming = self._fresh.pop(update_row_id, None)
        if incoming is None:
            async with self._sessions() as session:
                row = await update_store.get_update(session, update_row_id)
                if row is None or row.status != "pending":
                    return
                incoming = self._parsers[row.channel](row.payload)
        await self.handle(incoming, update_row_id=update_row_id)

    async def give_up(self, update_row_id: int, error: BaseException) -> None:
        self._fresh.pop(update_row_id, None)
        async with self._sessions.begin() as session:
            await update_store.mark_failed(session, update_row_id, repr(error))

    async def handle(self, incoming: IncomingMessage, *, update_row_id: int | None) -> Reply | None:
        """Record a customer's message and produce the reply (queued for its channel)."""
        async with self._sessions.begin() as session:
            customer = await conversation_store.upsert_customer(session, incoming)
            conversation = await conversation_store.open_conversation(
                session, customer.id, incoming.channel, incoming.chat_id
            )
            message_id = await conversation_store.add_customer_message(
                session, conversation.id, incoming, update_row_id
            )
            history = await conversation_store.recent_turns(
                session, conversation.id, self._history_turns, before_id=message_id
            )

        reply = await self._decide(incoming, customer, conversation, history)

        async with self._sessions.begin() as session:
            if reply is not None:
                await self._record_reply(session, incoming, conversation.id, reply, update_row_id)
            if update_row_id is not None:
                await update_store.mark_processed(session, update_row_id)
        if reply is not None and self._on_outbox and incoming.channel in self._outlets:
            self._on_outbox(incoming.channel)
        return reply

    async def _decide(
        self,
        incoming: IncomingMessage,
        customer: CustomerRef,
        conversation: ConversationRef,
        history: list[Turn],
    ) -> Reply | None:
        kind = incoming.kind
        if kind is MessageKind.COMMAND:
            return self._command(incoming, customer)
        if incoming.is_media:
            return Reply(replies.media_received(kind))
        if kind is not MessageKind.TEXT or not (incoming.text or "").strip():
            # Edits, button presses and unknown updates are recorded, not answered.
            return None
        if conversation.state in (ConversationState.WAITING, ConversationState.HUMAN):
            # A person owns this conversation: the bot stays quiet.
            return None
        answer = await self._answer(incoming, history)
        return Reply(answer.text, answer)

    def _command(self, incoming: IncomingMessage, customer: CustomerRef) -> Reply:
        command = (incoming.text or "").split()[0].split("@")[0].lower()
        if command == "/start":
            return Reply(replies.greeting(self._company, customer.first_name))
        if command == "/help":
            return Reply(replies.HELP)
        if command == "/human":
            return Reply(
                replies.HUMAN_REQUESTED,
                Answer(
                    text=replies.HUMAN_REQUESTED,
                    confidence=1.0,
                    needs_human=True,
                    reason=EscalationReason.EXPLICIT_REQUEST.value,
                    responder="fallback",
                ),
            )
        return Reply(replies.UNKNOWN_COMMAND)

    async def _answer(self, incoming: IncomingMessage, history: list[Turn]) -> Answer:
        outlet = self._outlets.get(incoming.channel)
        typing = asyncio.create_task(outlet.typing(incoming.chat_id)) if outlet else None
        try:
            return await self._brain.answer(incoming.text or "", history)
        finally:
            if typing is not None and not typing.done():
                typing.cancel()

    async def _record_reply(
        self,
        session: AsyncSession,
        incoming: IncomingMessage,
        conversation_id: int,
        reply: Reply,
        update_row_id: int | None,
    ) -> None:
        answer = reply.answer
        if answer is not None:
            stored = await conversation_store.add_bot_message(session, conversation_id, answer)
        else:
            stored = await conversation_store.add_system_message(
                session, conversation_id, reply.text
            )
        if answer is not None and (answer.needs_human or answer.keyword_hits):
            reason = answer.reason or (
                EscalationReason.KEYWORD.value if answer.keyword_hits else None
            )
            await conversation_store.flag_for_human(session, conversation_id, reason)
            log.info("conversation.needs_human", conversation_id=conversation_id, reason=reason)
        outlet = self._outlets.get(incoming.channel)
        if outlet is None:
            return
        await outbox.enqueue(
            session,
            channel=incoming.channel,
            chat_id=incoming.chat_id,
            parts=outlet.render(reply.text),
            dedup_prefix=f"reply:{update_row_id if update_row_id is not None else stored}",
            message_id=stored,
        )
