"""Handle one customer message: record it, decide, answer, and queue the reply."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.analytics.feedback import FeedbackService
from helpdesk.campaigns.chat import notifications_command
from helpdesk.config import Settings
from helpdesk.conversation import replies
from helpdesk.domain import (
    Answer,
    Author,
    ConversationState,
    EscalationReason,
    IncomingMessage,
    MessageKind,
    Turn,
)
from helpdesk.handoff import Escalation, EscalationPolicy, PastTurn, queue_message
from helpdesk.handoff.service import HandoffService
from helpdesk.store import conversations as conversation_store
from helpdesk.store import handoff as handoff_store
from helpdesk.store import outbox
from helpdesk.store import updates as update_store
from helpdesk.store.conversations import ConversationRef, CustomerRef, HistoryRow
from helpdesk.store.db import Transactions
from helpdesk.store.dialect import Executor
from helpdesk.store.outbox import Queued
from helpdesk.verification import VerificationService

log = structlog.get_logger(__name__)

# Enough turns for the repetition trigger's window; the LLM gets the last few of them.
HISTORY_FOR_POLICY = 20


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
    """Markdown for the customer; `answer` when it came from the brain."""

    text: str
    answer: Answer | None = None
    escalation: Escalation | None = None
    reply_markup: dict[str, Any] | None = None


Parser = Callable[[dict[str, Any]], IncomingMessage]


class ConversationService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        brain: Brain,
        *,
        transactions: Transactions,
        company_name: str,
        history_turns: int = 6,
        parsers: Mapping[str, Parser] | None = None,
        outlets: Mapping[str, Outlet] | None = None,
        on_outbox: Callable[[str], None] | None = None,
        on_ready: Callable[[Sequence[Queued]], None] | None = None,
        settings: Settings | None = None,
        policy: EscalationPolicy | None = None,
        handoff: HandoffService | None = None,
        on_escalated: Callable[[int], None] | None = None,
        verification: VerificationService | None = None,
        feedback: FeedbackService | None = None,
    ) -> None:
        self._sessions = sessions
        # Each message's two units of work run on bare connections (see Transactions).
        self._begin = transactions
        self._brain = brain
        # A name other than the settings' is the caller's fixed choice; otherwise follow
        # the settings, which an admin may change while we run.
        self._fixed_company = (
            company_name if settings is None or company_name != settings.company_name else None
        )
        self._history_turns = history_turns
        self._parsers = dict(parsers or {})
        self._outlets = dict(outlets or {})
        self._on_outbox = on_outbox
        # Rows of a reply with nothing older pending for the chat: straight to the sender.
        self._on_ready = on_ready
        self._fresh: dict[int, IncomingMessage] = {}
        self._settings = settings or Settings()
        self._policy = policy
        self._handoff = handoff
        self._on_escalated = on_escalated
        self._verification = verification
        self._feedback = feedback

    @property
    def _company(self) -> str:
        return self._fixed_company or self._settings.company_name

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
        if self._feedback is not None and await self._feedback.intercept(incoming, update_row_id):
            return None  # a rating, a 👍/👎 or a rating's comment: not a conversation turn
        async with self._begin() as connection:
            customer = await conversation_store.upsert_customer(connection, incoming)
            conversation = await conversation_store.open_conversation(
                connection, customer.id, incoming.channel, incoming.chat_id
            )
            message_id = await conversation_store.add_customer_message(
                connection, conversation.id, incoming, update_row_id
            )
            rows = await conversation_store.recent_history(
                connection, conversation.id, HISTORY_FOR_POLICY, before_id=message_id
            )
        self._publish_message(conversation.id, message_id, Author.CUSTOMER, incoming.text)

        reply = await self._decide(incoming, customer, conversation, rows)

        escalated = False
        ready: list[Queued] = []
        async with self._begin() as connection:
            if reply is not None and reply.escalation is not None and self._handoff is not None:
                escalated = await self._handoff.escalate(
                    connection,
                    conversation.id,
                    reply.escalation.reason.value,
                    reply.escalation.detail,
                    actor="bot",
                )
                if escalated:
                    reply = await self._with_queue_message(connection, conversation.id, reply)
            if reply is not None:
                stored, ready = await self._record_reply(
                    connection, incoming, conversation.id, reply, update_row_id
                )
            if update_row_id is not None:
                await update_store.mark_processed(connection, update_row_id)
        if reply is not None:
            self._publish_message(conversation.id, stored, _author(reply), reply.text)
        if escalated and self._handoff is not None:
            self._handoff.events.publish(
                "state",
                conversation_id=conversation.id,
                state=ConversationState.WAITING.value,
                previous=ConversationState.BOT.value,
                reason=reply.escalation.reason.value if reply and reply.escalation else None,
            )
            if self._on_escalated is not None:
                self._on_escalated(conversation.id)
        if ready and self._on_ready is not None:
            self._on_ready(ready)
        elif reply is not None and self._on_outbox and incoming.channel in self._outlets:
            self._on_outbox(incoming.channel)
        return reply

    def _publish_message(
        self, conversation_id: int, message_id: int, author: Author, text: str | None
    ) -> None:
        if self._handoff is not None:
            self._handoff.events.publish(
                "message",
                conversation_id=conversation_id,
                message_id=message_id,
                author=author.value,
                text=text,
            )

    async def _with_queue_message(
        self, session: Executor, conversation_id: int, reply: Reply
    ) -> Reply:
        position = await handoff_store.waiting_position(session, conversation_id)
        available = await handoff_store.agents_available(session)
        text = queue_message(
            position=position,
            agents_available=available,
            median_handling_seconds=None,
            settings=self._settings,
        )
        return replace(reply, text=text)

    async def _decide(
        self,
        incoming: IncomingMessage,
        customer: CustomerRef,
        conversation: ConversationRef,
        rows: list[HistoryRow],
    ) -> Reply | None:
        kind = incoming.kind
        if self._verification is not None:
            # Before the state check: an agent may ask the customer to /verify.
            prompt = await self._verification.handle(incoming, customer.id)
            if prompt is not None:
                return Reply(prompt.text, reply_markup=prompt.reply_markup)
        if kind is MessageKind.COMMAND:
            # Consent is honoured whoever owns the conversation (issue 6, campaigns).
            consent = await notifications_command(self._sessions, customer.id, incoming.text or "")
            if consent is not None:
                return Reply(consent)
        if conversation.state in (ConversationState.WAITING, ConversationState.HUMAN):
            # A person owns this conversation: the bot stays quiet, the agent sees it live.
            return None
        if kind is MessageKind.COMMAND:
            return self._command(incoming, customer)
        if incoming.is_media:
            return Reply(replies.media_received(kind))
        text = (incoming.text or "").strip()
        if kind is not MessageKind.TEXT or not text:
            # Edits, button presses and unknown updates are recorded, not answered.
            return None
        chat = replies.small_talk(text, self._company)
        if chat is not None:
            return Reply(chat)
        past = [_past_turn(row) for row in rows]
        if self._policy is not None:
            # An explicit "human please" or a trigger phrase needs no answer first.
            early = await self._policy.evaluate(text, None, past, now=incoming.sent_at)
            if early is not None:
                return Reply(replies.HUMAN_REQUESTED, escalation=early)
        history = [row_turn for row in rows[-self._history_turns :] if (row_turn := _turn(row))]
        answer = await self._answer(incoming, history)
        escalation = None
        if self._policy is not None:
            escalation = await self._policy.evaluate(text, answer, past, now=incoming.sent_at)
        if escalation is None and self._verification is not None:
            sources = [source.article_id for source in answer.sources]
            gate = await self._verification.gate(incoming, customer.id, sources)
            if gate is not None:
                return Reply(gate.text, reply_markup=gate.reply_markup)
        return Reply(answer.text, answer, escalation)

    def _command(self, incoming: IncomingMessage, customer: CustomerRef) -> Reply:
        command = (incoming.text or "").split()[0].split("@")[0].lower()
        if command == "/start":
            return Reply(replies.greeting(self._company, customer.first_name))
        if command == "/help":
            return Reply(replies.HELP)
        if command == "/human":
            return Reply(
                replies.HUMAN_REQUESTED,
                escalation=Escalation(EscalationReason.EXPLICIT_REQUEST, "/human command"),
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
        session: Executor,
        incoming: IncomingMessage,
        conversation_id: int,
        reply: Reply,
        update_row_id: int | None,
    ) -> tuple[int, list[Queued]]:
        """The stored message's id, and its outbox rows if they may go out right away."""
        answer = reply.answer
        if answer is not None:
            stored = await conversation_store.add_bot_message(session, conversation_id, answer)
        else:
            stored = await conversation_store.add_system_message(
                session, conversation_id, reply.text
            )
        if reply.escalation is None and answer is not None and answer.needs_human:
            # No policy to hand over (or it declined): still flag it for the team.
            await conversation_store.flag_for_human(session, conversation_id, answer.reason)
            log.info("conversation.needs_human", conversation_id=conversation_id)
        outlet = self._outlets.get(incoming.channel)
        if outlet is None:
            return stored, []
        queued = await outbox.enqueue(
            session,
            channel=incoming.channel,
            chat_id=incoming.chat_id,
            parts=outlet.render(reply.text),
            dedup_prefix=f"reply:{update_row_id if update_row_id is not None else stored}",
            message_id=stored,
            reply_markup=reply.reply_markup
            or await self._answer_markup(session, reply, conversation_id, stored),
        )
        if not queued or await outbox.pending_before(
            session, incoming.channel, incoming.chat_id, queued[0].id
        ):
            return stored, []
        return stored, queued

    async def _answer_markup(
        self, session: Executor, reply: Reply, conversation_id: int, message_id: int
    ) -> dict[str, Any] | None:
        # "Did this answer help?" goes on answers only, not on hand-overs or canned replies.
        if self._feedback is None or reply.answer is None or reply.escalation is not None:
            return None
        return await self._feedback.answer_markup(session, conversation_id, message_id)


def _turn(row: HistoryRow) -> Turn | None:
    try:
        return Turn(author=Author(row.author), text=row.text)
    except ValueError:
        return None


def _past_turn(row: HistoryRow) -> PastTurn:
    return PastTurn(
        at=row.created_at, turn=Turn(Author(row.author), row.text), confidence=row.confidence
    )


def _author(reply: Reply) -> Author:
    return Author.BOT if reply.answer is not None else Author.SYSTEM
