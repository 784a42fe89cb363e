"""Long polling for local use, the web chat page, and the health probes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.e2e.service import RunningService, service_settings
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.telegram_updates import tg_text_update


async def test_polling_answers_and_never_processes_an_update_twice_across_a_restart(
    database_url: str, data_dir: Path, telegram: FakeTelegram
) -> None:
    settings = service_settings(
        database_url,
        str(data_dir),
        telegram_api_base=telegram.base_url,
        token=telegram.token,
        telegram_webhook_url=None,
        telegram_poll_timeout=1,
    )
    async with RunningService(settings) as service:
        telegram.push_update(tg_text_update(100, 601, "Do you ship internationally?"))
        telegram.push_update(tg_text_update(101, 601, "/help"))
        await telegram.wait_for_messages(2, chat_id=601)
        await service.idle()
    assert any(call.method == "deleteWebhook" for call in telegram.calls)

    async with RunningService(settings) as service:
        telegram.push_update(tg_text_update(102, 601, "/start"))
        await telegram.wait_for_messages(3, chat_id=601)
        await asyncio.sleep(1.5)
    texts = [m["text"] for m in telegram.sent_messages(chat_id=601)]
    assert len(texts) == 3, texts


async def test_web_chat_answers_without_telegram_or_llm(database_url: str, data_dir: Path) -> None:
    settings = service_settings(database_url, str(data_dir))
    async with RunningService(settings) as service:
        page = await service.http.get(f"{service.base_url}/chat")
        assert page.status_code == 200 and "<form" in page.text

        async with httpx.AsyncClient(base_url=service.base_url) as browser:
            reply = (
                await browser.post("/chat/messages", json={"text": "I forgot my password"})
            ).json()
            assert reply["confidence"] >= service.settings.answer_threshold
            assert not reply["needs_human"]
            assert "password" in reply["html"].lower()
            assert reply["sources"][0]["url"].startswith("https://help.northwind.example/")

            off_topic = (
                await browser.post("/chat/messages", json={"text": "Best pizza recipe?"})
            ).json()
            assert off_topic["needs_human"]

            empty = await browser.post("/chat/messages", json={"text": ""})
            assert empty.status_code == 422


async def test_health_and_readiness(database_url: str, data_dir: Path) -> None:
    settings = service_settings(database_url, str(data_dir))
    async with RunningService(settings) as service:
        assert (await service.http.get(f"{service.base_url}/healthz")).json() == {"status": "ok"}
        ready = (await service.http.get(f"{service.base_url}/readyz")).json()
        assert ready["status"] == "ready"
        assert ready["articles"] >= 15
        assert ready["telegram"] == "off"
        # No webhook without Telegram configured.
        webhook = await service.http.post(f"{service.base_url}/telegram/webhook", json={})
        assert webhook.status_code == 404
