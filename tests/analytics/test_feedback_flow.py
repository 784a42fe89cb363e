"""Satisfaction through the real webhook and the fake Telegram: ratings and 👍/👎."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update

from helpdesk.analytics.outcomes import OutcomeCloser
from helpdesk.channels.delivery import TelegramOutlet
from helpdesk.store.models import (
    AnswerFeedback,
    Conversation,
    ConversationOutcome,
    Customer,
    Message,
    Rating,
)
from helpdesk.store.types import utcnow
from tests.e2e.conftest import StartService
from tests.e2e.service import RunningService
from tests.fakes.llm_server import FakeLLM
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.telegram_updates import tg_callback_update, tg_text_update

QUESTION = "How do I track my parcel?"
LATER = timedelta(hours=2)


async def ask(
    service: RunningService, tg: FakeTelegram, update_id: int, chat: int, text: str
) -> dict[str, Any]:
    """The customer writes; the bot's (last) reply."""
    before = len(tg.sent_messages(chat))
    await service.send_update(tg_text_update(update_id, chat, text))
    sent = await tg.wait_for_messages(before + 1, chat_id=chat)
    await service.idle()
    return sent[-1]


async def tap(service: RunningService, update_id: int, chat: int, data: str) -> None:
    response = await service.send_update(tg_callback_update(update_id, chat, data))
    assert response.status_code == 200
    await service.idle()


def closer(service: RunningService) -> OutcomeCloser:
    runtime = service.runtime
    assert runtime.telegram is not None and runtime.dispatcher is not None
    return OutcomeCloser(
        runtime.sessions,
        runtime.settings,
        outlets={"telegram": TelegramOutlet(runtime.telegram)},
        on_outbox=lambda _channel: runtime.dispatcher.wake(),  # type: ignore[union-attr]
    )


def buttons(message: dict[str, Any]) -> list[str]:
    markup = message.get("reply_markup") or {}
    return [button["callback_data"] for row in markup.get("inline_keyboard", []) for button in row]


async def scalar(service: RunningService, statement: Any) -> Any:
    async with service.runtime.sessions() as session:
        return await session.scalar(statement)


async def test_a_helpful_answer_then_a_rating_with_a_comment(
    start_service: StartService, telegram: FakeTelegram
) -> None:
    service = await start_service()
    chat = 7001
    answer = await ask(service, telegram, 1, chat, QUESTION)
    [up, down] = buttons(answer)
    assert up.startswith("help:") and up.endswith(":1") and down.endswith(":0")

    # 👍: recorded, and the button's spinner is stopped with a thank-you.
    await tap(service, 2, chat, up)
    [call] = telegram.calls_to("answerCallbackQuery")
    assert call.params["callback_query_id"] == "cb-2"
    assert call.params["text"] == "Thanks for your feedback!"
    message_id = int(up.split(":")[1])
    assert (
        await scalar(
            service, select(AnswerFeedback.helpful).where(AnswerFeedback.message_id == message_id)
        )
        is True
    )

    # No follow-up: resolved by the bot (confirmed by the 👍), closed, and surveyed.
    decided = await closer(service).close_due(utcnow() + LATER)
    [(conversation_id, decision)] = decided
    assert (decision.outcome.value, decision.reason) == ("resolved_bot", "confirmed")
    survey = (await telegram.wait_for_messages(2, chat_id=chat))[-1]
    assert "rate" in survey["text"]
    assert buttons(survey) == [f"rate:{conversation_id}:{score}" for score in range(1, 6)]

    # One tap rates; the customer is thanked and invited to comment.
    await tap(service, 3, chat, f"rate:{conversation_id}:5")
    thanks = (await telegram.wait_for_messages(3, chat_id=chat))[-1]
    assert "Thank you for your rating" in thanks["text"]
    assert telegram.calls_to("answerCallbackQuery")[-1].params["callback_query_id"] == "cb-3"
    rating = select(Rating.score, Rating.comment).where(Rating.conversation_id == conversation_id)
    async with service.runtime.sessions() as session:
        assert (await session.execute(rating)).one() == (5, None)

    # The next message is the comment: stored with the rating, not a new conversation.
    reply = await ask(service, telegram, 4, chat, "Quick and clear, thank you")
    assert "comment" in reply["text"]
    async with service.runtime.sessions() as session:
        assert (await session.execute(rating)).one() == (5, "Quick and clear, thank you")
        conversations = await session.scalar(
            select(func.count()).select_from(Conversation).where(Conversation.chat_id == chat)
        )
    assert conversations == 1

    # Changed within the window: still one rating, the new score.
    await tap(service, 5, chat, f"rate:{conversation_id}:3")
    assert (
        telegram.calls_to("answerCallbackQuery")[-1].params["text"]
        == "Your rating has been updated."
    )
    async with service.runtime.sessions() as session:
        assert (await session.execute(rating)).one() == (3, "Quick and clear, thank you")
        assert await session.scalar(select(func.count()).select_from(Rating)) == 1


async def test_never_surveyed_twice_in_a_row(
    start_service: StartService, telegram: FakeTelegram
) -> None:
    service = await start_service()
    chat = 7002
    first = await ask(service, telegram, 1, chat, QUESTION)
    assert buttons(first)
    now = utcnow() + LATER
    [(first_id, _)] = await closer(service).close_due(now)
    await telegram.wait_for_messages(2, chat_id=chat)  # the survey, left unanswered

    # A new question starts a new conversation; it ends too, but is not surveyed.
    await ask(service, telegram, 2, chat, QUESTION)
    [(second_id, decision)] = await closer(service).close_due(now + LATER)
    assert second_id != first_id and decision.outcome.value == "resolved_bot"
    await service.idle()
    texts = [m["text"] for m in telegram.sent_messages(chat)]
    assert sum("rate the help" in text for text in texts) == 1
    surveyed = select(ConversationOutcome.surveyed_at).where(
        ConversationOutcome.conversation_id == second_id
    )
    assert await scalar(service, surveyed) is None

    # The one after is surveyed again.
    await ask(service, telegram, 3, chat, QUESTION)
    [(third_id, _)] = await closer(service).close_due(now + 2 * LATER)
    third = select(ConversationOutcome.surveyed_at).where(
        ConversationOutcome.conversation_id == third_id
    )
    assert await scalar(service, third) is not None


async def test_ignored_answer_buttons_are_not_offered_again_at_once(
    start_service: StartService, telegram: FakeTelegram
) -> None:
    service = await start_service()
    chat = 7003
    first = await ask(service, telegram, 1, chat, QUESTION)
    second = await ask(service, telegram, 2, chat, "What payment methods do you accept?")
    third = await ask(service, telegram, 3, chat, "How long do refunds take?")
    assert buttons(first) and not buttons(second) and buttons(third)
    # 👎 on the third: the next answer may ask again.
    await tap(service, 4, chat, buttons(third)[1])
    fourth = await ask(service, telegram, 5, chat, QUESTION)
    assert buttons(fourth)


async def test_customers_who_opted_out_are_never_asked(
    start_service: StartService, telegram: FakeTelegram
) -> None:
    service = await start_service()
    chat = 7004
    await ask(service, telegram, 1, chat, "/start")
    async with service.runtime.sessions.begin() as session:
        await session.execute(
            update(Customer)
            .where(Customer.external_id == chat)
            .values(notifications_opted_out_at=utcnow())
        )
    answer = await ask(service, telegram, 2, chat, QUESTION)
    assert buttons(answer) == []
    [(_, decision)] = await closer(service).close_due(utcnow() + LATER)
    assert decision.outcome.value == "resolved_bot"
    await service.idle()
    assert [m["text"] for m in telegram.sent_messages(chat)][-1] == answer["text"]
    assert all("rate the help" not in m["text"] for m in telegram.sent_messages(chat))


async def test_someone_elses_rating_button_changes_nothing(
    start_service: StartService, telegram: FakeTelegram
) -> None:
    service = await start_service()
    await ask(service, telegram, 1, 7005, QUESTION)
    [(conversation_id, _)] = await closer(service).close_due(utcnow() + LATER)
    await tap(service, 2, 7006, f"rate:{conversation_id}:1")
    assert (
        telegram.calls_to("answerCallbackQuery")[-1].params["text"]
        == "This survey is no longer available."
    )
    assert await scalar(service, select(func.count()).select_from(Rating)) == 0


async def test_an_llm_answer_keeps_its_model_latency_and_tokens(
    start_service: StartService, telegram: FakeTelegram, llm: FakeLLM
) -> None:
    llm.delay = 0.2
    service = await start_service(llm_base_url=llm.base_url)
    await ask(service, telegram, 1, 7010, QUESTION)
    async with service.runtime.sessions() as session:
        row = (
            await session.execute(
                select(
                    Message.responder,
                    Message.model,
                    Message.latency_ms,
                    Message.prompt_tokens,
                    Message.completion_tokens,
                    Message.confidence,
                    Message.sources,
                ).where(Message.author == "bot")
            )
        ).one()
    assert (row.responder, row.model) == ("llm", service.settings.llm_model)
    assert row.latency_ms >= 200
    assert row.prompt_tokens > 0 and row.completion_tokens > 0
    assert row.confidence is not None and row.sources


async def test_a_rating_is_kept_once_the_change_window_has_passed(
    start_service: StartService, telegram: FakeTelegram
) -> None:
    service = await start_service(analytics_rating_change_window_seconds=0)
    chat = 7020
    await ask(service, telegram, 1, chat, QUESTION)
    [(conversation_id, _)] = await closer(service).close_due(utcnow() + LATER)
    await tap(service, 2, chat, f"rate:{conversation_id}:2")
    await tap(service, 3, chat, f"rate:{conversation_id}:5")
    last = telegram.calls_to("answerCallbackQuery")[-1].params
    assert (last["callback_query_id"], last["text"]) == (
        "cb-3",
        "Your rating was already recorded.",
    )
    rating = select(Rating.score).where(Rating.conversation_id == conversation_id)
    assert await scalar(service, rating) == 2
