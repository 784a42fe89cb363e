"""The client against the fake Bot API: what is sent, and how failures are classified."""

from __future__ import annotations

import time

import pytest

from helpdesk.channels.telegram import (
    ALLOWED_UPDATES,
    RateLimiter,
    TelegramClient,
    TelegramRejected,
    TelegramRetryLater,
    markdown_to_telegram_html,
    split_message,
)
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.telegram_updates import tg_text_update


async def test_send_message_is_html_without_previews_and_on_spec(
    fake_tg: FakeTelegram, tg_client: TelegramClient
) -> None:
    html = markdown_to_telegram_html("**Hi!** Track at https://example.com & reply `/human`")
    first = await tg_client.send_message(501, html)
    second = await tg_client.send_message(501, "again")
    assert (first, second) == (1, 2)
    [sent, _] = fake_tg.sent_messages(chat_id=501)
    assert sent["text"] == html
    assert sent["parse_mode"] == "HTML"
    assert sent["link_preview_options"] == {"is_disabled": True}
    assert fake_tg.spec_violations == []


async def test_reply_markup_is_passed_through(
    fake_tg: FakeTelegram, tg_client: TelegramClient
) -> None:
    keyboard = {"inline_keyboard": [[{"text": "Yes", "callback_data": "helpful:yes"}]]}
    await tg_client.send_message(501, "Did this help?", reply_markup=keyboard)
    assert fake_tg.sent_messages(501)[0]["reply_markup"] == keyboard
    assert fake_tg.spec_violations == []
    # A malformed keyboard is refused for good (and caught by the spec check).
    with pytest.raises(TelegramRejected, match="reply_markup"):
        await tg_client.send_message(501, "x", reply_markup={"buttons": "nope"})
    assert len(fake_tg.spec_violations) == 1
    fake_tg.spec_violations.clear()


async def test_long_answer_chunks_are_all_accepted(
    fake_tg: FakeTelegram, tg_client: TelegramClient
) -> None:
    md = "\n\n".join(f"**{i}.** " + "Some <detail> & more text here. " * 9 for i in range(32))
    chunks = split_message(markdown_to_telegram_html(md))
    assert len(md) > 9000 and len(chunks) >= 3
    for chunk in chunks:
        await tg_client.send_message(77, chunk)
    assert len(fake_tg.sent_messages(77)) == len(chunks)


async def test_429_becomes_retry_later_with_telegrams_delay(
    fake_tg: FakeTelegram, tg_client: TelegramClient
) -> None:
    fake_tg.fail_next("sendMessage", status=429, retry_after=7)
    with pytest.raises(TelegramRetryLater) as caught:
        await tg_client.send_message(501, "hello")
    assert caught.value.retry_after == 7
    assert caught.value.rate_limited
    assert fake_tg.sent_messages() == []
    assert await tg_client.send_message(501, "hello") == 1


@pytest.mark.parametrize("status", [500, 502, 0])
async def test_server_and_network_errors_become_retry_later(
    fake_tg: FakeTelegram, tg_client: TelegramClient, status: int
) -> None:
    fake_tg.fail_next("sendMessage", status=status, retry_after=None)
    with pytest.raises(TelegramRetryLater) as caught:
        await tg_client.send_message(501, "hello")
    assert caught.value.retry_after > 0
    assert not caught.value.rate_limited


async def test_timeout_becomes_retry_later(fake_tg: FakeTelegram) -> None:
    client = TelegramClient(fake_tg.token, fake_tg.base_url, rate_limit=0, request_timeout=1)
    fake_tg.fail_next("sendMessage", status=200, delay=1.5)
    try:
        started = time.monotonic()
        with pytest.raises(TelegramRetryLater):
            await client.send_message(501, "hello")
        assert time.monotonic() - started < 1.4
    finally:
        await client.close()


async def test_unreachable_server_becomes_retry_later() -> None:
    client = TelegramClient("1:X", "http://127.0.0.1:9", rate_limit=0, request_timeout=2)
    try:
        with pytest.raises(TelegramRetryLater):
            await client.send_message(1, "hello")
    finally:
        await client.close()


async def test_blocked_bot_and_bad_requests_are_rejected(
    fake_tg: FakeTelegram, tg_client: TelegramClient
) -> None:
    fake_tg.block_chat(502)
    with pytest.raises(TelegramRejected) as blocked:
        await tg_client.send_message(502, "hello")
    assert blocked.value.error_code == 403
    assert "blocked" in blocked.value.description

    fake_tg.fail_next("sendMessage", status=400, description="Bad Request: chat not found")
    with pytest.raises(TelegramRejected, match="chat not found"):
        await tg_client.send_message(503, "hello")

    with pytest.raises(TelegramRejected, match="too long"):
        await tg_client.send_message(503, "x" * 4097)
    with pytest.raises(TelegramRejected, match="empty"):
        await tg_client.send_message(503, "  ")


async def test_unparseable_markup_is_delivered_as_plain_text(
    fake_tg: FakeTelegram, tg_client: TelegramClient
) -> None:
    message_id = await tg_client.send_message(501, "<b>Price</b> < 5 &amp; <blink>now</blink>")
    assert message_id == 1
    [failed, delivered] = fake_tg.calls_to("sendMessage")
    assert failed.status == 400 and "can't parse entities" in failed.result
    [sent] = fake_tg.sent_messages(501)
    assert sent["text"] == "Price < 5 & now"
    assert "parse_mode" not in sent
    assert delivered.status == 200


async def test_typing_is_best_effort(fake_tg: FakeTelegram, tg_client: TelegramClient) -> None:
    await tg_client.send_typing(501)
    fake_tg.fail_next("sendChatAction", status=500)
    await tg_client.send_typing(501)  # does not raise
    fake_tg.block_chat(9)
    await tg_client.send_typing(9)
    calls = fake_tg.calls_to("sendChatAction")
    assert [c.status for c in calls] == [200, 500, 403]
    assert calls[0].params == {"chat_id": 501, "action": "typing"}


async def test_get_updates_returns_raw_payloads_and_confirms_by_offset(
    fake_tg: FakeTelegram, tg_client: TelegramClient
) -> None:
    update = tg_text_update(5, 501, "hi") | {"future_field": {"x": 1}}
    fake_tg.push_update(update)
    fake_tg.push_update(tg_text_update(6, 501, "there"))
    got = await tg_client.get_updates(None, 0)
    assert got[0] == update  # exactly as sent, unknown fields included
    assert [u["update_id"] for u in await tg_client.get_updates(6, 0)] == [6]
    assert await tg_client.get_updates(7, 0) == []
    [call] = fake_tg.calls_to("getUpdates")[-1:]
    assert call.params["allowed_updates"] == ALLOWED_UPDATES
    assert fake_tg.spec_violations == []


async def test_webhook_and_get_me(fake_tg: FakeTelegram, tg_client: TelegramClient) -> None:
    me = await tg_client.get_me()
    assert me["is_bot"] is True and me["username"] == "helpdesk_test_bot"
    await tg_client.set_webhook("https://bot.example.test/hook", "s3cret_-1", ALLOWED_UPDATES)
    assert fake_tg.webhook == {
        "url": "https://bot.example.test/hook",
        "secret_token": "s3cret_-1",
        "allowed_updates": ALLOWED_UPDATES,
    }
    with pytest.raises(TelegramRetryLater, match="webhook is active"):
        await tg_client.get_updates(None, 0)
    with pytest.raises(TelegramRejected, match="unallowed characters"):
        await tg_client.set_webhook("https://bot.example.test/hook", "no spaces!", [])
    await tg_client.delete_webhook()
    assert fake_tg.webhook is None
    assert await tg_client.get_updates(None, 0) == []
    assert fake_tg.spec_violations == []


async def test_wrong_token_is_retry_later_not_a_lost_message(fake_tg: FakeTelegram) -> None:
    client = TelegramClient("999:WRONG", fake_tg.base_url, rate_limit=0)
    try:
        with pytest.raises(TelegramRetryLater, match="Unauthorized") as caught:
            await client.send_message(1, "hello")
        assert caught.value.retry_after >= 30
    finally:
        await client.close()


async def test_sends_are_paced_by_the_limiter(fake_tg: FakeTelegram) -> None:
    limiter = RateLimiter(100, 10, chat_burst=1)
    client = TelegramClient(fake_tg.token, fake_tg.base_url, limiter=limiter)
    try:
        for _ in range(4):
            await client.send_message(501, "tick")
        times = [c.at for c in fake_tg.calls_to("sendMessage")]
        # 10/s in one chat: 3 intervals of 0.1 s (less a little network jitter).
        assert times[-1] - times[0] >= 0.27
    finally:
        await client.close()
