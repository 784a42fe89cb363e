"""A customer writes to the bot on Telegram; the answer comes back in their chat."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import func, select

from helpdesk.store.models import Conversation, Message, RawUpdate
from tests.e2e.conftest import StartService
from tests.fakes.llm_server import FakeLLM
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.telegram_updates import (
    tg_callback_update,
    tg_edited_update,
    tg_photo_update,
    tg_text_update,
)


async def count(service, model, *where) -> int:  # type: ignore[no-untyped-def]
    async with service.runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)))


async def test_start_registers_the_webhook_with_its_secret(
    start_service: StartService, telegram: FakeTelegram
) -> None:
    service = await start_service()
    assert telegram.webhook is not None
    assert telegram.webhook["url"] == service.settings.telegram_webhook_url
    assert telegram.webhook["secret_token"] == service.settings.telegram_webhook_secret
    assert set(telegram.webhook["allowed_updates"]) >= {
        "message",
        "edited_message",
        "callback_query",
    }


async def test_question_gets_a_grounded_answer_with_sources(
    start_service: StartService, telegram: FakeTelegram
) -> None:
    service = await start_service()
    response = await service.send_update(tg_text_update(1, 501, "How do I track my parcel?"))
    assert response.status_code == 200

    [reply] = await telegram.wait_for_messages(1, chat_id=501)
    assert reply["parse_mode"] == "HTML"
    assert "Sources" in reply["text"]
    assert 'href="https://help.northwind.example/' in reply["text"]
    assert "track" in reply["text"].lower()
    assert any(call.method == "sendChatAction" for call in telegram.calls)


async def test_every_update_is_recorded_with_its_details(
    start_service: StartService, telegram: FakeTelegram
) -> None:
    service = await start_service()
    await service.send_update(tg_text_update(7, 502, "Hello there", user_id=9001))
    await service.send_update(tg_photo_update(8, 502, user_id=9001, caption="my broken mug"))
    await telegram.wait_for_messages(2, chat_id=502)
    await service.idle()

    async with service.runtime.sessions() as session:
        rows = (await session.scalars(select(RawUpdate).order_by(RawUpdate.update_id))).all()
    text, photo = rows
    assert (text.update_id, text.chat_id, text.user_id, text.text) == (7, 502, 9001, "Hello there")
    assert text.sent_at is not None and text.message_id is not None
    assert photo.kind == "photo" and photo.file_id and photo.caption == "my broken mug"
    assert photo.payload["update_id"] == 8
    # The photo is answered honestly and kept for the agent.
    replies = telegram.sent_messages(chat_id=502)
    assert "can't read photos" in replies[1]["text"]


async def test_edits_and_button_presses_are_recorded_but_not_answered(
    start_service: StartService, telegram: FakeTelegram
) -> None:
    service = await start_service()
    await service.send_update(tg_text_update(1, 512, "/start"))
    await service.send_update(tg_edited_update(2, 512, "/start please"))
    await service.send_update(tg_callback_update(3, 512, data="rate:5"))
    await telegram.wait_for_messages(1, chat_id=512)
    await service.idle()
    async with service.runtime.sessions() as session:
        kinds = (await session.scalars(select(RawUpdate.kind).order_by(RawUpdate.id))).all()
        statuses = set((await session.scalars(select(RawUpdate.status))).all())
    assert kinds == ["command", "edited", "callback"]
    assert statuses == {"processed"}
    assert len(telegram.sent_messages(chat_id=512)) == 1


async def test_webhook_without_the_right_secret_is_rejected_and_nothing_processed(
    start_service: StartService, telegram: FakeTelegram
) -> None:
    service = await start_service()
    missing = await service.send_update(tg_text_update(1, 503, "hi"), secret=None)
    wrong = await service.send_update(tg_text_update(2, 503, "hi"), secret="guess")
    assert missing.status_code == 401
    assert wrong.status_code == 403
    await asyncio.sleep(0.2)
    assert await count(service, RawUpdate) == 0
    assert telegram.sent_messages() == []


async def test_duplicate_update_gets_one_reply(
    start_service: StartService, telegram: FakeTelegram
) -> None:
    service = await start_service()
    update = tg_text_update(42, 504, "What payment methods do you accept?")
    first, second = await asyncio.gather(service.send_update(update), service.send_update(update))
    assert {first.status_code, second.status_code} == {200}
    await service.send_update(update)
    await telegram.wait_for_messages(1, chat_id=504)
    await service.idle()
    await asyncio.sleep(0.3)
    assert len(telegram.sent_messages(chat_id=504)) == 1
    assert await count(service, Message, Message.direction == "in") == 1


async def test_malformed_updates_get_400_and_the_server_stays_up(
    start_service: StartService, telegram: FakeTelegram
) -> None:
    service = await start_service()
    headers = {"X-Telegram-Bot-Api-Secret-Token": service.settings.telegram_webhook_secret or ""}
    url = f"{service.base_url}/telegram/webhook"
    broken = await service.http.post(url, content=b'{"update_id": 1, "message": ', headers=headers)
    assert broken.status_code == 400
    assert "malformed JSON" in broken.json()["error"]
    not_an_update = await service.http.post(url, json={"hello": "world"}, headers=headers)
    assert not_an_update.status_code == 400
    # The odd payload is kept for inspection rather than thrown away.
    assert await count(service, RawUpdate, RawUpdate.status == "invalid") == 1

    assert (await service.http.get(f"{service.base_url}/healthz")).status_code == 200
    await service.send_update(tg_text_update(2, 505, "/start"))
    [greeting] = await telegram.wait_for_messages(1, chat_id=505)
    assert "/help" in greeting["text"]


async def test_telegram_429_is_retried_after_retry_after(
    start_service: StartService, telegram: FakeTelegram
) -> None:
    telegram.fail_next("sendMessage", status=429, retry_after=1)
    service = await start_service()
    started = time.monotonic()
    await service.send_update(tg_text_update(1, 506, "How long do refunds take?"))
    [reply] = await telegram.wait_for_messages(1, chat_id=506, timeout=15)
    assert time.monotonic() - started >= 1.0
    assert "refund" in reply["text"].lower()
    attempts = [call for call in telegram.calls if call.method == "sendMessage"]
    assert len(attempts) == 2


async def test_a_reply_waiting_out_a_429_keeps_its_place_in_the_chat(
    start_service: StartService, telegram: FakeTelegram
) -> None:
    # The next reply is handed straight to the sender, unless an older one still waits.
    telegram.fail_next("sendMessage", status=429, retry_after=1)
    service = await start_service()
    await service.send_update(tg_text_update(1, 512, "/help"))
    deadline = time.monotonic() + 10
    while not any(call.status == 429 for call in telegram.calls):
        assert time.monotonic() < deadline, "the first reply was never attempted"
        await asyncio.sleep(0.02)
    await service.send_update(tg_text_update(2, 512, "/start"))
    help_reply, greeting = await telegram.wait_for_messages(2, chat_id=512, timeout=15)
    assert "/human" in help_reply["text"]
    assert "/help" in greeting["text"]
    sends = [call for call in telegram.calls if call.method == "sendMessage"]
    assert [call.status for call in sends] == [429, 200, 200]


async def test_telegram_5xx_is_retried_with_backoff(
    start_service: StartService, telegram: FakeTelegram
) -> None:
    telegram.fail_next("sendMessage", status=502, retry_after=None, times=2)
    service = await start_service()
    await service.send_update(tg_text_update(1, 507, "/help"))
    [reply] = await telegram.wait_for_messages(1, chat_id=507, timeout=15)
    assert "/human" in reply["text"]


async def test_three_quick_messages_are_answered_in_order(
    start_service: StartService, telegram: FakeTelegram, llm: FakeLLM
) -> None:
    # The first question is the slowest to answer: handled concurrently, its reply
    # would arrive last.
    llm.delays = [0.8, 0.1, 0.1]
    llm.answer_for = lambda question: f"Answer to {question.split(':')[0]}."
    service = await start_service(llm_base_url=llm.base_url)
    questions = ["first: shipping costs?", "second: refund time?", "third: reset password?"]
    for update_id, question in enumerate(questions, start=1):
        await service.send_update(tg_text_update(update_id, 508, question))
    replies = await telegram.wait_for_messages(3, chat_id=508, timeout=20)
    assert [r["text"].split()[2].strip(".") for r in replies] == ["first", "second", "third"]


async def test_fifty_chats_at_once_are_answered_in_about_the_time_of_one(
    start_service: StartService, telegram: FakeTelegram, llm: FakeLLM
) -> None:
    llm.delay = 0.5
    # The bot-wide 30 msg/s limit alone would spread 50 replies over 1.7 s.
    service = await start_service(llm_base_url=llm.base_url, telegram_rate_limit=0)
    started = time.monotonic()
    await asyncio.gather(
        *(
            service.send_update(tg_text_update(1000 + n, 10_000 + n, "Do you ship abroad?"))
            for n in range(50)
        )
    )
    await telegram.wait_for_messages(50, timeout=20)
    elapsed = time.monotonic() - started
    # Serialised, 50 answers would take 25 s; concurrently about one LLM delay plus overhead.
    assert elapsed < 4.0, elapsed
    assert {m["chat_id"] for m in telegram.sent_messages()} == {10_000 + n for n in range(50)}


async def test_a_long_answer_is_split_into_messages_telegram_accepts(
    start_service: StartService, telegram: FakeTelegram, llm: FakeLLM
) -> None:
    paragraph = "Our returns policy explains every step in detail. " * 30
    llm.answer_text = "\n\n".join(paragraph.strip() for _ in range(6))  # ~9,000 characters
    assert len(llm.answer_text) > 9000
    service = await start_service(llm_base_url=llm.base_url)
    await service.send_update(tg_text_update(1, 509, "How do I return an item?"))
    await service.idle()
    replies = await telegram.wait_for_messages(3, chat_id=509, timeout=15)
    await asyncio.sleep(0.2)
    replies = telegram.sent_messages(chat_id=509)
    assert len(replies) >= 3
    assert all(len(r["text"]) <= 4096 for r in replies)
    assert "Sources" in replies[-1]["text"]
    # The answer's provenance is kept for analytics: model, latency, tokens, sources.
    async with service.runtime.sessions() as session:
        answer = await session.scalar(select(Message).where(Message.author == "bot"))
    assert answer is not None
    assert answer.model == service.settings.llm_model
    assert answer.responder == "llm"
    assert answer.latency_ms is not None and answer.latency_ms >= 0
    assert answer.prompt_tokens and answer.completion_tokens
    assert answer.sources


async def test_llm_down_gives_a_polite_reply_and_flags_the_conversation(
    start_service: StartService, telegram: FakeTelegram, llm: FakeLLM
) -> None:
    llm.mode = "error"
    service = await start_service(llm_base_url=llm.base_url, llm_timeout=2)
    started = time.monotonic()
    await service.send_update(tg_text_update(1, 510, "Where is my order?"))
    [reply] = await telegram.wait_for_messages(1, chat_id=510, timeout=15)
    assert time.monotonic() - started < 2 + 5
    assert "team" in reply["text"].lower()
    await service.idle()
    async with service.runtime.sessions() as session:
        conversation = await session.scalar(select(Conversation).where(Conversation.chat_id == 510))
    assert conversation is not None
    assert conversation.needs_human, (conversation.state, conversation.escalation_reason)
    assert conversation.escalation_reason == "llm_failure"


async def test_unsent_replies_survive_a_restart(
    start_service: StartService, telegram: FakeTelegram
) -> None:
    telegram.fail_next("sendMessage", status=500, retry_after=None, times=1000)
    service = await start_service()
    await service.send_update(tg_text_update(1, 511, "Can I change my email address?"))
    await service.idle()
    await asyncio.sleep(0.5)
    assert telegram.sent_messages(chat_id=511) == []
    await service.stop()

    telegram.fail_next("sendMessage", status=500, times=0)  # Telegram has recovered
    await start_service()
    [reply] = await telegram.wait_for_messages(1, chat_id=511, timeout=15)
    assert "email" in reply["text"].lower()
