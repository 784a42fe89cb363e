"""The console in a real browser (Debian's Chromium driven by Playwright).

An agent logs in, watches an escalation arrive in the inbox without reloading, opens
it, sees new customer messages appear live, replies (the customer gets it on
Telegram), notes and resolves. Screenshots land in the test's tmp dir and in
var/artifacts/ (ignored by git) for a human to look at.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.console.conftest import StartConsole
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.telegram_updates import tg_photo_update, tg_text_update
from tests.helpers.browser import chromium, keep_screenshot, needs_chromium, sqlite_database
from tests.helpers.console import PASSWORD, add_agent

CHAT = 801

pytestmark = needs_chromium


async def test_agent_works_a_conversation_live_in_the_browser(
    tmp_path: Path, start_console: StartConsole, telegram: FakeTelegram
) -> None:
    playwright_api = pytest.importorskip("playwright.async_api")
    database_url = await sqlite_database(tmp_path, "console.db")
    service = await start_console(database_url)
    await add_agent(service, "grace@example.test", "Grace Hopper", role="admin")
    await add_agent(service, "alan@example.test", "Alan Turing")

    # Before the agent looks: the customer talks to the bot (an answer with sources).
    await service.send_update(tg_text_update(1, CHAT, "How do I track my parcel?"))
    await service.send_update(tg_photo_update(2, CHAT, caption="The box arrived crushed"))
    await telegram.wait_for_messages(2, chat_id=CHAT)
    await service.idle()

    async with chromium(playwright_api) as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(10_000)
        expect = playwright_api.expect

        await page.goto(f"{service.base_url}/console")
        assert "/console/login" in page.url
        await page.get_by_label("Email").fill("grace@example.test")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
        await expect(page.locator("#inbox-list")).to_contain_text("Nobody is waiting")
        await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")

        # A reload would lose this marker: it proves the row arrived live.
        await page.evaluate("window.__noReload = true")
        await service.send_update(tg_text_update(3, CHAT, "/human"))
        row = page.locator("#inbox-list .inbox-row", has_text="Ada Lovelace")
        await expect(row).to_be_visible()
        await expect(row).to_contain_text("Asked for a person")
        await expect(row).to_contain_text("waiting")
        await expect(page.locator("#inbox-tabs .count.hot")).to_have_text("1")
        assert await page.evaluate("window.__noReload === true")
        await page.screenshot(path=str(tmp_path / "inbox.png"))

        await row.locator("a").click()
        await expect(page.locator("#conversation-title")).to_contain_text("Ada Lovelace")
        transcript = page.locator("#transcript")
        bot = transcript.locator(".msg-bot").first
        await expect(bot.locator(".confidence")).to_contain_text("% confident")
        await expect(bot.locator(".sources a").first).to_have_attribute(
            "href", re.compile(r"^https://help\.northwind\.example/")
        )
        photo = transcript.locator(".msg-customer .media")
        await expect(photo).to_contain_text("Photo")
        await expect(photo).to_contain_text("The box arrived crushed")
        await expect(photo.locator("code")).to_contain_text("photo-file-")

        await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
        await page.evaluate("window.__noReload = true")
        await service.send_update(tg_text_update(4, CHAT, "Is anyone there? It's urgent."))
        await expect(transcript.locator(".msg-customer").last).to_contain_text("Is anyone there?")
        assert await page.evaluate("window.__noReload === true")

        await page.get_by_label("Your reply").fill(
            "Hi Ada, I'm **Grace**. Sorry about the box! A replacement ships today."
        )
        await page.get_by_role("button", name="Send reply").click()
        await expect(page.locator(".flash-ok")).to_contain_text("Reply sent")
        sent = await telegram.wait_for_messages(3, chat_id=CHAT)
        assert "replacement ships today" in sent[-1]["text"]
        await expect(page.locator(".state-badge-human").first).to_be_visible()

        await page.get_by_label("New note").fill("Second damaged parcel this month.")
        await page.get_by_role("button", name="Add note").click()
        await expect(page.locator("#notes")).to_contain_text("Second damaged parcel")

        shot = tmp_path / "console.png"
        await page.screenshot(path=str(shot), full_page=True)
        keep_screenshot(shot, "console.png")
        keep_screenshot(tmp_path / "inbox.png", "console-inbox.png")

        await page.get_by_role("button", name="Resolve").click()
        await expect(page.locator(".flash-ok")).to_have_text("Resolved.")
        await expect(page.locator("#conversation-head .badge")).to_have_text("resolved")
    [resolved] = await service.runtime.handoff.list_conversations(state="resolved")
    assert resolved.chat_id == CHAT
