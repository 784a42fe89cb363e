"""Admins send updates from the console and the CLI; customers switch them in the chat."""

from __future__ import annotations

import asyncio
import html
import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.campaigns.conftest import StartService, add_customer, wait_done
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.telegram_updates import tg_text_update
from tests.fakes.twilio_server import FakeTwilio
from tests.helpers.console import add_agent, csrf_in, log_in

HELPDESK = Path(sys.executable).with_name("helpdesk")


async def test_an_admin_previews_sends_and_watches_an_update_in_the_console(
    start: StartService, telegram: FakeTelegram, fake_twilio: FakeTwilio
) -> None:
    service = await start()
    sessions = service.runtime.sessions
    await add_customer(sessions, 701, first_name="Lena")
    await add_customer(sessions, 702, phone="+14155550702", sms_opt_in=True)
    await add_customer(sessions, 703, opted_out=True)
    await add_agent(service, "boss@example.test", "Boss", role="admin")
    await add_agent(service, "ann@example.test", "Ann")

    async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as agent:
        await log_in(agent, "ann@example.test")
        assert (await agent.get("/console/updates")).status_code == 403

    async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as admin:
        await log_in(admin, "boss@example.test")
        page = await admin.get("/console/updates")
        assert page.status_code == 200 and "No update sent yet" in page.text
        assert 'href="/console/updates"' in page.text
        form = {
            "csrf": csrf_in(page.text),
            "segment": "all",
            "channel": "both",
            "text": "Hi {name}, our shop is closed on Friday.",
            "link": "https://northwind.example/hours",
        }
        preview = await admin.post("/console/updates", data={**form, "action": "preview"})
        text = " ".join(html.unescape(preview.text).split())
        assert preview.status_code == 200
        assert "Telegram: 2 recipient(s)" in text
        assert "SMS: 1 recipient(s), GSM-7, 1 segment(s) per SMS at most" in text
        assert "Left out on telegram (opted out or no SMS opt-in): 1" in text
        assert "Hi Lena, our shop is closed on Friday." in text
        assert telegram.sent_messages() == [] and fake_twilio.messages == []

        bad = await admin.post(
            "/console/updates", data={**form, "text": "Hi {nickname}", "action": "send"}
        )
        assert bad.status_code == 400 and "unknown placeholder" in html.unescape(bad.text)

        # The page's script listens to the console's event stream for progress.
        async with admin.stream("GET", "/console/events") as stream:
            sent = await admin.post("/console/updates", data={**form, "action": "send"})
            assert sent.status_code == 303
            async with asyncio.timeout(10):
                async for line in stream.aiter_lines():
                    if line == "event: campaign":
                        break
        await telegram.wait_for_messages(2)
        await fake_twilio.wait_for_messages(1)
        await wait_done(sessions, 1)
        progress = (await admin.get("/console/updates/progress")).json()["campaigns"]
        assert [(c["id"], c["sent"], c["failed"], c["pending"]) for c in progress] == [(1, 3, 0, 0)]
        page = await admin.get("/console/updates")
        assert "on its way to 3 recipient(s)" in html.unescape(page.text)
        assert '<td data-count="sent">3</td>' in page.text
        assert '<td data-count="status">done</td>' in page.text


async def test_notifications_in_the_chat_switch_updates_off_and_on(
    start: StartService, telegram: FakeTelegram, fake_twilio: FakeTwilio
) -> None:
    service = await start()
    sessions = service.runtime.sessions
    await add_customer(sessions, 801, phone="+14155550801")  # verified, no SMS opt-in yet
    await add_customer(sessions, 802)  # no verified number

    async def say(update_id: int, chat: int, text: str) -> str:
        before = len(telegram.sent_messages(chat))
        await service.send_update(tg_text_update(update_id, chat, text))
        found = await telegram.wait_for_messages(before + 1, chat_id=chat)
        return str(found[-1]["text"])

    assert "Updates by SMS: <b>off</b>" in await say(1, 801, "/notifications")
    assert "+14155550801" in await say(2, 801, "/notifications sms on")
    assert "verified phone number first" in await say(3, 802, "/notifications sms on")
    assert "no more updates" in await say(4, 801, "/notifications off")

    from tests.campaigns.conftest import start_campaign

    first = await start_campaign(service, "Sale starts {first_name}", channel="both")
    progress = await wait_done(sessions, first)
    assert progress.sent() == 1  # only 802, by Telegram
    assert fake_twilio.messages == []

    assert "here again" in await say(5, 801, "/notifications on")
    second = await start_campaign(service, "Sale ends", channel="both")
    progress = await wait_done(sessions, second)
    assert (progress.sent("telegram"), progress.sent("sms")) == (2, 1)
    assert [m["To"] for m in fake_twilio.messages] == ["+14155550801"]


async def test_the_cli_dry_run_counts_recipients_and_sms_segments(
    database_url: str, tmp_path: Path
) -> None:
    from helpdesk.store.db import create_engine, session_factory

    engine = create_engine(database_url)
    sessions = session_factory(engine)
    await add_customer(sessions, 901, phone="+14155550901", sms_opt_in=True)
    await add_customer(sessions, 902, first_name="Zoë", phone="+14155550902", sms_opt_in=True)
    await add_customer(sessions, 903, language="de")
    await engine.dispose()
    text = tmp_path / "update.txt"
    # 158 characters: Ada's SMS is GSM-7 and fits one segment (160); "ë" is not in the
    # GSM-7 alphabet, so Zoë's is UCS-2, split in parts of 67: three segments.
    text.write_text("Hi {first_name}! " + "x" * 150 + "\n", encoding="utf-8")
    german = tmp_path / "de.txt"
    german.write_text("Hallo {first_name}!", encoding="utf-8")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(HELPDESK), "notify", "send", *args],
            env={
                **os.environ,
                "HELPDESK_DATABASE_URL": database_url,
                "HELPDESK_LOG_LEVEL": "ERROR",
            },
            capture_output=True,
            text=True,
            timeout=120,
        )

    result = await asyncio.to_thread(
        run,
        "--segment", "all", "--text-file", str(text), "--channel", "both",
        "--variant", f"de={german}", "--dry-run",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "segment: 3 customer(s)" in lines
    assert "telegram: 3 recipient(s)" in lines
    assert (
        "sms: 2 recipient(s), UCS-2, 3 segment(s) per SMS at most, 4 segment(s) in all"
        " (0 opted out, 1 not reachable)"
    ) in lines

    bad = await asyncio.to_thread(run, "--segment", "everyone", "--text-file", str(text))
    assert bad.returncode == 2 and "unknown segment" in bad.stderr


async def test_the_cli_creates_an_update_and_follows_it_to_the_end(
    start: StartService, telegram: FakeTelegram, tmp_path: Path
) -> None:
    service = await start()
    sessions = service.runtime.sessions
    for chat in (1001, 1002, 1003):
        await add_customer(sessions, chat)
    text = tmp_path / "update.txt"
    text.write_text("Dear {first_name}, new opening hours from Monday.", encoding="utf-8")
    env = {
        **os.environ,
        "HELPDESK_DATABASE_URL": service.settings.database_url,
        "HELPDESK_LOG_LEVEL": "ERROR",
    }
    process = await asyncio.create_subprocess_exec(
        str(HELPDESK), "notify", "send", "--segment", "all", "--text-file", str(text),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(120):
        stdout, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    out = stdout.decode()
    assert "telegram: 3 recipient(s)" in out
    assert "update #1: 3 sent, 0 failed, 0 skipped" in out
    # tqdm draws the bar on stderr: it reached all three.
    assert "3/3" in stderr.decode()
    texts = [m for m in telegram.sent_messages() if "opening hours" in m["text"]]
    assert sorted(m["chat_id"] for m in texts) == [1001, 1002, 1003]
