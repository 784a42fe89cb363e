"""A generated support history written straight to the tables, with known answers.

Each `Chat` is one conversation: the customer's questions, the bot's answers (with
confidence and optional 👍/👎), an escalation and an agent's reply when asked for,
and the outcome and rating the analytics side would have recorded. The rows are
written with the analytics tests' `Builder`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.analytics.history import Builder


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
    b = Builder(session)
    customer = await b.customer(chat_id, chat.language, since=chat.at)
    escalated = chat.agent_reply is not None
    moment = chat.at
    resolved = chat.outcome in ("resolved_bot", "resolved_agent")
    conversation = await b.conversation(customer, moment, state="resolved" if resolved else "bot")
    for index, question in enumerate(chat.questions):
        last = index == len(chat.questions) - 1
        moment += timedelta(seconds=30)
        await b.say(conversation, moment, question)
        moment += timedelta(seconds=2)
        answer = (
            chat.bot_answers[index]
            if index < len(chat.bot_answers)
            else f"Here is what I found about: {question}"
        )
        bot = await b.message(
            conversation,
            moment,
            "bot",
            text=answer,
            confidence=chat.confidence,
            responder="offline",
            latency_ms=120,
            needs_human=escalated and last,
            reason=chat.escalation_reason if escalated and last else None,
        )
        if chat.voted_down == index:
            await b.vote(bot, False, moment)
    if escalated:
        conversation.escalated_at = moment
        conversation.escalation_reason = chat.escalation_reason
        conversation.needs_human = True
        moment += timedelta(minutes=3)
        await b.message(conversation, moment, "agent", text=chat.agent_reply)
    if chat.outcome is not None:
        moment += timedelta(minutes=1)
        await b.outcome(conversation, chat.outcome, moment, reason=None)
    if chat.rating is not None:
        await b.rating(conversation, chat.rating, moment)
    await session.flush()
    return int(conversation.id)
