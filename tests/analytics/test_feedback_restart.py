"""A rating's awaited comment survives a restart (through the real webhook, both databases)."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from helpdesk.analytics.feedback import THANKS_FOR_COMMENT
from helpdesk.store.models import Conversation, Message, Rating
from helpdesk.store.types import utcnow
from tests.analytics.test_feedback_flow import LATER, QUESTION, ask, closer, tap
from tests.e2e.conftest import StartService
from tests.e2e.service import RunningService
from tests.fakes.telegram_server import FakeTelegram

COMMENT = "The courier was late, but your answer sorted it out"


async def rate_then_stop(
    start_service: StartService, telegram: FakeTelegram, chat: int
) -> tuple[int, int]:
    """Ask, get surveyed, tap 4 stars, get invited to comment; then stop the service.
    Returns (the rated conversation, how many messages the bot has sent)."""
    service = await start_service()
    await ask(service, telegram, 1, chat, QUESTION)
    [(conversation_id, _)] = await closer(service).close_due(utcnow() + LATER)
    await telegram.wait_for_messages(2, chat_id=chat)  # the survey
    await tap(service, 2, chat, f"rate:{conversation_id}:4")
    invited = await telegram.wait_for_messages(3, chat_id=chat)
    assert "tell us more" in invited[-1]["text"]
    await service.stop()
    return conversation_id, len(invited)


async def counts(service: RunningService, chat: int, text: str) -> tuple[int, int]:
    """(conversations of the chat, customer messages recorded with `text`)."""
    async with service.runtime.sessions() as session:
        conversations = await session.scalar(
            select(func.count()).select_from(Conversation).where(Conversation.chat_id == chat)
        )
        recorded = await session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.author == "customer", Message.text == text)
        )
    return conversations or 0, recorded or 0


async def test_the_comment_after_a_restart_is_stored_with_the_rating(
    start_service: StartService, telegram: FakeTelegram
) -> None:
    chat = 7030
    conversation_id, sent = await rate_then_stop(start_service, telegram, chat)

    service = await start_service()
    reply = await ask(service, telegram, 3, chat, COMMENT)
    assert reply["text"] == THANKS_FOR_COMMENT
    assert len(telegram.sent_messages(chat)) == sent + 1  # only the thank-you, no answer
    rating = select(Rating.score, Rating.comment).where(Rating.conversation_id == conversation_id)
    async with service.runtime.sessions() as session:
        assert (await session.execute(rating)).one() == (4, COMMENT)
    # Not a conversation turn: no new conversation, nothing recorded as the customer's.
    assert await counts(service, chat, COMMENT) == (1, 0)

    # Awaited once: the next text is a question again.
    answer = await ask(service, telegram, 4, chat, QUESTION)
    assert answer["text"] != THANKS_FOR_COMMENT
    assert await counts(service, chat, QUESTION) == (2, 2)


async def test_an_expired_comment_request_after_a_restart_is_a_normal_message(
    start_service: StartService, telegram: FakeTelegram
) -> None:
    chat = 7031
    conversation_id, sent = await rate_then_stop(start_service, telegram, chat)

    service = await start_service(analytics_comment_window_seconds=1)
    await asyncio.sleep(1.2)  # the window has passed since the tap
    reply = await ask(service, telegram, 3, chat, QUESTION)
    assert reply["text"] != THANKS_FOR_COMMENT
    rating = select(Rating.comment).where(Rating.conversation_id == conversation_id)
    async with service.runtime.sessions() as session:
        assert await session.scalar(rating) is None
    # A new question: a new conversation (the rated one is closed), answered by the bot.
    assert await counts(service, chat, QUESTION) == (2, 2)
    assert len(telegram.sent_messages(chat)) == sent + 1
