"""A generated support history written straight to the tables, with known answers.

Each `Chat` is one conversation: the customer's questions, the bot's answers (with
confidence and optional 👍/👎), an escalation and an agent's reply when asked for,
and the outcome and rating the analytics side would have recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.store.models import (
    AnswerFeedback,
    Conversation,
    ConversationOutcome,
    Customer,
    Message,
    Rating,
)


@dataclass
class Chat:
    questions: list[str]
    at: datetime
    confidence: float = 0.9
    outcome: str | None = "resolved_bot"
    rating: int | None = None
    language: str = "en"
    # Index of the bot answer the customer voted down, if any.
    voted_down: int | None = None
    # The agent's reply after an escalation that follows the last question.
    agent_reply: str | None = None
    escalation_reason: str = "low_confidence"
    bot_answers: list[str] = field(default_factory=list)


async def write_history(
    sessions: async_sessionmaker[AsyncSession], chats: list[Chat], *, first_chat_id: int = 1000
) -> list[int]:
    """Insert the chats; returns their conversation ids in order."""
    ids: list[int] = []
    async with sessions.begin() as session:
        for number, chat in enumerate(chats):
            ids.append(await _write_chat(session, chat, first_chat_id + number))
    return ids


async def _write_chat(session: AsyncSession, chat: Chat, chat_id: int) -> int:
    customer = Customer(
        channel="telegram",
        external_id=chat_id,
        first_name=f"Customer {chat_id}",
        language_code=chat.language,
        created_at=chat.at,
        last_seen_at=chat.at,
    )
    session.add(customer)
    await session.flush()
    escalated = chat.agent_reply is not None
    moment = chat.at
    conversation = Conversation(
        customer_id=customer.id,
        channel="telegram",
        chat_id=chat_id,
        state="resolved" if chat.outcome in ("resolved_bot", "resolved_agent") else "bot",
        created_at=moment,
        updated_at=moment,
    )
    session.add(conversation)
    await session.flush()
    for index, question in enumerate(chat.questions):
        last = index == len(chat.questions) - 1
        moment += timedelta(seconds=30)
        session.add(
            Message(
                conversation_id=conversation.id,
                direction="in",
                author="customer",
                kind="text",
                text=question,
                created_at=moment,
            )
        )
        moment += timedelta(seconds=2)
        answer = (
            chat.bot_answers[index]
            if index < len(chat.bot_answers)
            else f"Here is what I found about: {question}"
        )
        bot = Message(
            conversation_id=conversation.id,
            direction="out",
            author="bot",
            kind="text",
            text=answer,
            created_at=moment,
            confidence=chat.confidence,
            responder="offline",
            latency_ms=120,
            needs_human=escalated and last,
            reason=chat.escalation_reason if escalated and last else None,
        )
        session.add(bot)
        await session.flush()
        if chat.voted_down == index:
            session.add(
                AnswerFeedback(
                    message_id=bot.id,
                    conversation_id=conversation.id,
                    helpful=False,
                    created_at=moment,
                    updated_at=moment,
                )
            )
    if escalated:
        conversation.escalated_at = moment
        conversation.escalation_reason = chat.escalation_reason
        conversation.needs_human = True
        moment += timedelta(minutes=3)
        session.add(
            Message(
                conversation_id=conversation.id,
                direction="out",
                author="agent",
                kind="text",
                text=chat.agent_reply,
                created_at=moment,
            )
        )
    if chat.outcome is not None:
        moment += timedelta(minutes=1)
        session.add(
            ConversationOutcome(
                conversation_id=conversation.id,
                outcome=chat.outcome,
                ended_at=moment,
                decided_at=moment,
            )
        )
    if chat.rating is not None:
        session.add(
            Rating(
                conversation_id=conversation.id,
                customer_id=customer.id,
                score=chat.rating,
                created_at=moment,
                updated_at=moment,
            )
        )
    await session.flush()
    return conversation.id
