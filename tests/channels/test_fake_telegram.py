"""The fake Bot API answers like Telegram, so other tests can trust what it accepts."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.telegram_updates import tg_text_update


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession,
    fake: FakeTelegram,
    method: str,
    token: str | None = None,
    **kw: Any,
) -> tuple[int, dict[str, Any]]:
    url = f"{fake.base_url}/bot{token or fake.token}/{method}"
    async with http.post(url, **kw) as response:
        return response.status, await response.json()


async def test_bodies_in_json_form_multipart_and_query_string(
    fake_tg: FakeTelegram, http: aiohttp.ClientSession
) -> None:
    status, body = await call(http, fake_tg, "sendMessage", json={"chat_id": 5, "text": "a"})
    assert status == 200 and body["result"]["text"] == "a"
    assert body["result"]["chat"] == {"id": 5, "type": "private"}
    assert body["result"]["from"]["is_bot"] is True
    await call(http, fake_tg, "sendMessage", data={"chat_id": "5", "text": "b"})
    form = aiohttp.FormData({"chat_id": "5", "text": "c"})
    form.add_field("ignored_file", b"x", filename="x.bin")  # forces multipart
    status, body = await call(http, fake_tg, "sendMessage", data=form)
    assert status == 400 and "ignored_file" in body["description"]
    async with http.get(f"{fake_tg.base_url}/bot{fake_tg.token}/getMe") as response:
        assert (await response.json())["result"]["username"] == "helpdesk_test_bot"
    assert [m["text"] for m in fake_tg.sent_messages(5)] == ["a", "b"]
    assert [m["message_id"] for m in (c.result for c in fake_tg.calls_to("sendMessage")[:2])] == [
        1,
        2,
    ]


async def test_spec_violations_are_recorded_and_refused(
    fake_tg: FakeTelegram, http: aiohttp.ClientSession
) -> None:
    status, body = await call(http, fake_tg, "sendMessage", json={"chat_id": 5})
    assert (status, body["ok"], body["error_code"]) == (400, False, 400)
    status, _ = await call(
        http, fake_tg, "sendMessage", json={"chat_id": 5, "text": "x", "colour": 1}
    )
    assert status == 400
    status, _ = await call(
        http,
        fake_tg,
        "sendMessage",
        json={"chat_id": 5, "text": "x", "disable_notification": "maybe"},
    )
    assert status == 400
    markup = {"inline_keyboard": [[{"text": "a", "callback_data": "b", "colour": "red"}]]}
    status, _ = await call(
        http, fake_tg, "sendMessage", json={"chat_id": 5, "text": "x", "reply_markup": markup}
    )
    assert status == 400
    status, body = await call(http, fake_tg, "sendTelepathy", json={})
    assert (status, body) == (404, {"ok": False, "error_code": 404, "description": "Not Found"})
    assert len(fake_tg.spec_violations) == 5
    assert "missing required parameter 'text'" in fake_tg.spec_violations[0]
    assert "unknown parameter 'colour'" in fake_tg.spec_violations[1]
    assert "colour" in fake_tg.spec_violations[3]
    assert fake_tg.sent_messages() == []
    fake_tg.spec_violations.clear()  # so the fixture's own teardown stays quiet


async def test_spec_check_can_be_switched_off(http: aiohttp.ClientSession) -> None:
    async with FakeTelegram(spec_check=False) as fake:
        status, _ = await call(
            http, fake, "sendMessage", json={"chat_id": 5, "text": "x", "colour": 1}
        )
        assert status == 200


async def test_wrong_token_is_unauthorized(
    fake_tg: FakeTelegram, http: aiohttp.ClientSession
) -> None:
    status, body = await call(http, fake_tg, "getMe", token="1:nope")
    assert (status, body["description"]) == (401, "Unauthorized")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("<b>unclosed", "can't parse entities"),
        ("a < b", "can't parse entities"),
        ("fish & chips", "can't parse entities"),
        ("<p>para</p>", "can't parse entities"),
        ("<b></b>  ", "message text is empty"),
        ("&lt;" * 4097, "message is too long"),
    ],
)
async def test_html_is_checked_like_telegram(
    fake_tg: FakeTelegram, http: aiohttp.ClientSession, text: str, error: str
) -> None:
    payload = {"chat_id": 5, "text": text, "parse_mode": "HTML"}
    status, body = await call(http, fake_tg, "sendMessage", json=payload)
    assert status == 400 and error in body["description"]


async def test_length_is_counted_after_entity_parsing(
    fake_tg: FakeTelegram, http: aiohttp.ClientSession
) -> None:
    payload = {"chat_id": 5, "text": "<b>" + "&amp;" * 4096 + "</b>", "parse_mode": "HTML"}
    status, body = await call(http, fake_tg, "sendMessage", json=payload)
    assert status == 200 and body["result"]["text"] == "&" * 4096


async def test_fail_next_shapes_errors_like_telegram(
    fake_tg: FakeTelegram, http: aiohttp.ClientSession
) -> None:
    fake_tg.fail_next("sendmessage", status=429, retry_after=3, times=2)
    fake_tg.fail_next("sendMessage", status=500)
    payload = {"chat_id": 5, "text": "x"}
    assert await call(http, fake_tg, "sendMessage", json=payload) == (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 3",
            "parameters": {"retry_after": 3},
        },
    )
    assert (await call(http, fake_tg, "sendMessage", json=payload))[0] == 429
    assert (await call(http, fake_tg, "sendMessage", json=payload))[1]["error_code"] == 500
    assert (await call(http, fake_tg, "sendMessage", json=payload))[0] == 200
    assert [c.status for c in fake_tg.calls] == [429, 429, 500, 200]
    fake_tg.fail_next("sendMessage", status=500, times=100)
    fake_tg.fail_next("sendMessage", times=0)  # recovered
    assert (await call(http, fake_tg, "sendMessage", json=payload))[0] == 200


async def test_get_updates_long_polls_and_confirms_by_offset(
    fake_tg: FakeTelegram, http: aiohttp.ClientSession
) -> None:
    async def push_soon() -> None:
        await asyncio.sleep(0.2)
        fake_tg.push_update(tg_text_update(1, 5, "one"))

    pusher = asyncio.create_task(push_soon())
    started = time.monotonic()
    _, body = await call(http, fake_tg, "getUpdates", json={"timeout": 10})
    assert 0.15 < time.monotonic() - started < 2  # returned as soon as the update came
    assert [u["update_id"] for u in body["result"]] == [1]
    await pusher

    for update_id in (2, 3, 4):
        fake_tg.push_update(tg_text_update(update_id, 5, "more"))
    _, body = await call(http, fake_tg, "getUpdates", json={"offset": 2, "limit": 2})
    assert [u["update_id"] for u in body["result"]] == [2, 3]
    _, body = await call(http, fake_tg, "getUpdates", data={"offset": "-1"})
    assert [u["update_id"] for u in body["result"]] == [4]
    _, body = await call(http, fake_tg, "getUpdates", json={"offset": 5, "timeout": 0})
    assert body["result"] == [] and fake_tg.pending_updates == []
    fake_tg.push_update({"message": tg_text_update(0, 5, "auto id")["message"]})
    assert fake_tg.pending_updates[0]["update_id"] == 1


async def test_a_second_poller_terminates_the_first(
    fake_tg: FakeTelegram, http: aiohttp.ClientSession
) -> None:
    first = asyncio.create_task(call(http, fake_tg, "getUpdates", json={"timeout": 5}))
    await asyncio.sleep(0.1)
    second = asyncio.create_task(call(http, fake_tg, "getUpdates", json={"timeout": 0}))
    status, body = await asyncio.wait_for(first, 2)
    assert status == 409 and "terminated by other getUpdates" in body["description"]
    assert (await second)[0] == 200


async def test_webhook_rules(fake_tg: FakeTelegram, http: aiohttp.ClientSession) -> None:
    status, body = await call(http, fake_tg, "setWebhook", json={"url": "http://insecure/hook"})
    assert status == 400 and "HTTPS" in body["description"]
    hook = {
        "url": "https://x.test/hook",
        "secret_token": "ok_1-2",
        "allowed_updates": json.dumps(["message"]),
    }
    assert (await call(http, fake_tg, "setWebhook", data=hook))[0] == 200
    assert fake_tg.webhook == {**hook, "allowed_updates": ["message"]}
    status, _ = await call(http, fake_tg, "getUpdates", json={})
    assert status == 409
    assert (await call(http, fake_tg, "setWebhook", json={"url": ""}))[0] == 200
    assert fake_tg.webhook is None


async def test_wait_for_messages_times_out_with_what_it_saw(fake_tg: FakeTelegram) -> None:
    with pytest.raises(TimeoutError, match="got 0"):
        await fake_tg.wait_for_messages(1, chat_id=5, timeout=0.1)
