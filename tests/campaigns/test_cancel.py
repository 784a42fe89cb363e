"""Admins cancel a campaign that is still sending (API, console, CLI), and create and
watch campaigns over the JSON API.

What a cancel guarantees (campaigns/cancel.py): no recipient row is handed to a channel
after the cancel committed. Telegram messages that passed the outbox guard before it
(checked after their rate-limit wait, so only requests already on their way; at most
the outbox window) and SMS already claimed (at most the worker's 4 send slots) still
arrive, and are counted `sent`; every other open recipient is `cancelled`.
"""

from __future__ import annotations

import asyncio
import html
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.store.models import CampaignEvent, OutboxItem
from tests.api.conftest import Api, signed_in
from tests.campaigns.conftest import (
    StartService,
    add_customer,
    recipients,
    start_campaign,
    wait_done,
)
from tests.e2e.service import RunningService
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.twilio_server import FakeTwilio
from tests.helpers.console import add_agent, browser, csrf_in, flash

HELPDESK = Path(sys.executable).with_name("helpdesk")
NEWS = "Hello {name}, the spring sale starts tomorrow."
MARKER = "spring sale"
WINDOW = 2  # campaign rows in the Telegram outbox at once (and 2 messages/s)


def campaign_calls(tg: FakeTelegram) -> list[Any]:
    """The campaign's sendMessage calls Telegram accepted, in arrival order."""
    return [
        call
        for call in tg.calls_to("sendMessage")
        if call.status == 200 and MARKER in str(call.params.get("text", ""))
    ]


async def audit_rows(sessions: async_sessionmaker[AsyncSession]) -> list[CampaignEvent]:
    async with sessions() as session:
        return list((await session.scalars(select(CampaignEvent))).all())


async def settled(admin: Api, campaign_id: int, sent: int, timeout: float = 15) -> dict[str, Any]:
    """The campaign once its counts caught up with `sent` messages received."""
    async with asyncio.timeout(timeout):
        while True:
            body: dict[str, Any] = (await admin.get(f"/campaigns/{campaign_id}")).json()
            if body["counts"]["pending"] == 0 and body["counts"]["sent"] == sent:
                return body
            await asyncio.sleep(0.1)


async def test_an_admin_cancels_a_campaign_half_way_and_nobody_else_gets_it(
    start: StartService, telegram: FakeTelegram
) -> None:
    service = await start(telegram_rate_limit=2.0, campaign_outbox_window=WINDOW)
    sessions = service.runtime.sessions
    chats = list(range(2001, 2013))
    for chat in chats:
        await add_customer(sessions, chat)
    admin = await signed_in(service, "admin@example.com", role="admin")

    created = await admin.post(
        "/campaigns", {"segment": "all", "channel": "telegram", "text": NEWS}
    )
    assert created.status_code == 201, created.text
    campaign_id = created.json()["campaign"]["id"]
    assert created.json()["plan"]["recipients"] == {"telegram": len(chats)}
    await telegram.wait_for_messages(2, timeout=20)

    cancelled = await admin.post(f"/campaigns/{campaign_id}/cancel")
    returned_at = time.monotonic()
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["cancelled_now"] is True
    assert cancelled.json()["campaign"]["status"] == "cancelled"

    await asyncio.sleep(3)  # longer than the window takes at 2/s: anything late is in
    calls = campaign_calls(telegram)
    late = [call for call in calls if call.at > returned_at]
    # Only messages already past the guard when the cancel committed: the window at most.
    assert len(late) <= WINDOW, late
    received = Counter(call.params["chat_id"] for call in calls)
    assert set(received.values()) == {1}  # nobody twice
    assert 2 <= len(received) < len(chats)

    body = await settled(admin, campaign_id, sent=len(received))
    counts = body["counts"]
    assert body["status"] == "cancelled" and body["finished_at"] is not None
    assert (counts["sent"], counts["cancelled"]) == (len(received), len(chats) - len(received))
    assert (counts["failed"], counts["skipped"], counts["total"]) == (0, 0, len(chats))
    assert body["by_status"]["telegram"] == {
        "sent": counts["sent"],
        "cancelled": counts["cancelled"],
    }
    assert body["cancelled_by"] == f"agent:{admin.agent_id} admin@example.com"

    [audit] = await audit_rows(sessions)
    assert (audit.campaign_id, audit.event, audit.agent_id) == (
        campaign_id,
        "cancelled",
        admin.agent_id,
    )
    # Cancelling again is fine and changes nothing; the trail keeps one row.
    again = await admin.post(f"/campaigns/{campaign_id}/cancel")
    assert again.status_code == 200 and again.json()["cancelled_now"] is False
    assert len(await audit_rows(sessions)) == 1
    assert len(campaign_calls(telegram)) == len(calls)


async def test_updates_waiting_in_the_outbox_are_held_back_by_the_cancel(
    start: StartService, telegram: FakeTelegram
) -> None:
    service = await start()
    sessions = service.runtime.sessions
    for chat in (2051, 2052, 2053):
        await add_customer(sessions, chat)
    # Telegram answers each first try with 429: the rows wait in the outbox for a retry.
    telegram.fail_next("sendMessage", status=429, retry_after=2, times=3)
    campaign_id = await start_campaign(service, NEWS)
    for _ in range(200):
        if len(telegram.calls_to("sendMessage")) >= 3:
            break
        await asyncio.sleep(0.05)
    assert {row.status for row in await recipients(sessions, campaign_id)} == {"queued"}
    admin = await signed_in(service, "admin@example.com", role="admin")

    assert (await admin.post(f"/campaigns/{campaign_id}/cancel")).status_code == 200
    await asyncio.sleep(3)  # past the retry: the guard refuses each row

    assert campaign_calls(telegram) == []
    rows = await recipients(sessions, campaign_id)
    assert {(row.status, row.error) for row in rows} == {("cancelled", "campaign cancelled")}
    async with sessions() as session:
        outbox = (await session.scalars(select(OutboxItem))).all()
    assert {(item.status, item.last_error) for item in outbox} == {
        ("failed", "the campaign was cancelled")
    }


async def test_sms_already_claimed_finish_and_the_rest_stop(
    start: StartService, fake_twilio: FakeTwilio
) -> None:
    service = await start(campaign_sms_rate=2.0)
    sessions = service.runtime.sessions
    for n in range(10):
        await add_customer(sessions, 2101 + n, phone=f"+141555521{n:02d}", sms_opt_in=True)
    admin = await signed_in(service, "admin@example.com", role="admin")
    created = await admin.post("/campaigns", {"segment": "all", "channel": "sms", "text": NEWS})
    campaign_id = created.json()["campaign"]["id"]
    await fake_twilio.wait_for_messages(2, timeout=20)

    assert (await admin.post(f"/campaigns/{campaign_id}/cancel")).status_code == 200
    at_cancel = len(fake_twilio.messages)
    await asyncio.sleep(2)

    # At most the sends already claimed (the worker's 4 slots) arrive after the cancel.
    assert len(fake_twilio.messages) - at_cancel <= 4
    numbers = Counter(m["To"] for m in fake_twilio.messages)
    assert set(numbers.values()) == {1} and len(numbers) < 10
    counts = (await settled(admin, campaign_id, sent=len(numbers)))["counts"]
    assert (counts["sent"], counts["cancelled"]) == (len(numbers), 10 - len(numbers))


async def test_cancel_is_refused_when_finished_unknown_or_not_an_admin(
    start: StartService, telegram: FakeTelegram
) -> None:
    service = await start()
    await add_customer(service.runtime.sessions, 2201)
    admin = await signed_in(service, "admin@example.com", role="admin")
    agent = await signed_in(service, "alice@example.com")
    created = await admin.post("/campaigns", {"segment": "all", "text": NEWS})
    campaign_id = created.json()["campaign"]["id"]
    await wait_done(service.runtime.sessions, campaign_id)

    finished = await admin.post(f"/campaigns/{campaign_id}/cancel")
    assert finished.status_code == 409
    assert finished.json()["detail"] == (
        f"campaign #{campaign_id} is already done: nothing left to cancel"
    )
    assert (await agent.post(f"/campaigns/{campaign_id}/cancel")).status_code == 403
    assert (await agent.get("/campaigns")).status_code == 403
    assert (await Api(service).post(f"/campaigns/{campaign_id}/cancel")).status_code == 401
    assert (await Api(service).get("/campaigns")).status_code == 401
    missing = await admin.post("/campaigns/999/cancel")
    assert missing.status_code == 404 and missing.json()["detail"] == "no campaign #999"
    assert (await admin.get("/campaigns/999")).status_code == 404
    assert await audit_rows(service.runtime.sessions) == []

    [listed] = (await admin.get("/campaigns")).json()["campaigns"]
    assert (listed["id"], listed["status"], listed["counts"]["sent"]) == (campaign_id, "done", 1)


async def test_a_dry_run_counts_the_audience_and_bad_input_is_a_422(
    start: StartService, telegram: FakeTelegram
) -> None:
    service = await start()
    sessions = service.runtime.sessions
    await add_customer(sessions, 2301, phone="+14155552301", sms_opt_in=True)
    await add_customer(sessions, 2302, first_name="Zoë", phone="+14155552302", sms_opt_in=True)
    await add_customer(sessions, 2303, opted_out=True)
    admin = await signed_in(service, "admin@example.com", role="admin")

    dry = await admin.post(
        "/campaigns",
        {"segment": "all", "channel": "both", "text": "Hi {first_name}!", "dry_run": True},
    )
    assert dry.status_code == 200, dry.text
    body = dry.json()
    assert body["dry_run"] is True and body["campaign"] is None
    plan = body["plan"]
    assert plan["in_segment"] == 3
    assert plan["recipients"] == {"telegram": 2, "sms": 2}
    assert (plan["opted_out"], plan["unreachable"]) == ({"telegram": 1}, {"sms": 1})
    assert (plan["sms_encoding"], plan["sms_segments"]) == ("UCS-2", 2)
    assert plan["samples"]["sms"] == "Hi Ada!"
    assert (await admin.get("/campaigns")).json() == {"campaigns": []}

    cases = [
        ({"segment": "everyone", "text": NEWS}, "segment: unknown segment 'everyone'"),
        ({"segment": "all", "text": "Hi {nickname}"}, "text: unknown placeholder {nickname}"),
        ({"segment": "all", "text": NEWS, "link": "ftp://x"}, "link: the link must start"),
        ({"segment": "all", "text": NEWS, "channel": "fax"}, "channel: Input should be"),
        ({"segment": "all", "text": "  "}, "text: String should have at least 1 character"),
    ]
    for body, message in cases:
        refused = await admin.post("/campaigns", body)
        assert refused.status_code == 422, refused.text
        assert refused.json()["message"].startswith(message), refused.json()
    assert (await admin.get("/campaigns")).json() == {"campaigns": []}
    await asyncio.sleep(0.2)
    assert telegram.sent_messages() == []


async def _sending_campaign(service: RunningService, chats: range) -> int:
    """A campaign that stays sending: Telegram holds each answer for a while."""
    for chat in chats:
        await add_customer(service.runtime.sessions, chat)
    return await start_campaign(service, NEWS)


async def test_an_admin_cancels_from_the_console_after_confirming(
    start: StartService, telegram: FakeTelegram
) -> None:
    service = await start(telegram_rate_limit=1.0, campaign_outbox_window=1)
    telegram.fail_next("sendMessage", status=200, delay=1.0, times=20)
    campaign_id = await _sending_campaign(service, range(2401, 2409))
    await add_agent(service, "boss@example.test", "Boss", role="admin")
    await add_agent(service, "ann@example.test", "Ann")
    url = f"/console/updates/{campaign_id}/cancel"

    async with browser(service, "ann@example.test") as agent:
        page = await agent.get("/console")
        refused = await agent.post(url, data={"csrf": csrf_in(page.text), "confirm": "yes"})
        assert refused.status_code == 403

    async with browser(service, "boss@example.test") as admin:
        page = await admin.get("/console/updates")
        assert f'action="{url}"' in page.text
        assert f"Yes, cancel update #{campaign_id}" in page.text
        csrf = csrf_in(page.text)
        assert (await admin.post(url, data={"confirm": "yes"})).status_code == 403  # no CSRF
        unconfirmed = await admin.post(url, data={"csrf": csrf})
        assert unconfirmed.status_code == 400

        done = await admin.post(url, data={"csrf": csrf, "confirm": "yes"})
        assert done.status_code == 303
        page = await admin.get("/console/updates")
        assert flash(html.unescape(page.text)).startswith(
            f"ok: Update #{campaign_id} is cancelled:"
        )
        assert '<td data-count="status">cancelled</td>' in page.text
        assert f'action="{url}"' not in page.text  # nothing left to cancel
        progress = (await admin.get("/console/updates/progress")).json()["campaigns"]
        assert progress[0]["status"] == "cancelled" and progress[0]["cancelled"] >= 1
        assert progress[0]["pending"] == 0

        again = await admin.post(url, data={"csrf": csrf, "confirm": "yes"})
        assert again.status_code == 303
        page = await admin.get("/console/updates")
        assert (
            flash(html.unescape(page.text)) == f"ok: Update #{campaign_id} was already cancelled."
        )
        missing = await admin.post(
            "/console/updates/999/cancel", data={"csrf": csrf, "confirm": "yes"}
        )
        assert missing.status_code == 404
    [audit] = await audit_rows(service.runtime.sessions)
    assert audit.actor.startswith("agent:") and audit.actor.endswith("boss@example.test")


def _cli(database_url: str, *args: str) -> Any:
    import subprocess

    return subprocess.run(
        [str(HELPDESK), "notify", "cancel", *args],
        env={**os.environ, "HELPDESK_DATABASE_URL": database_url, "HELPDESK_LOG_LEVEL": "ERROR"},
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_the_cli_cancels_an_update(database_url: str) -> None:
    from helpdesk.campaigns.segments import parse_segment
    from helpdesk.campaigns.service import Draft, create
    from helpdesk.config import SAMPLE_KNOWLEDGE_PATH
    from helpdesk.store.db import create_engine, session_factory

    engine = create_engine(database_url)
    sessions = session_factory(engine)
    for chat in (2501, 2502, 2503):
        await add_customer(sessions, chat)
    ids = []
    for segment in ("all", "language=xx"):  # the second reaches nobody: done at once
        async with sessions.begin() as session:
            campaign_id, _ = await create(
                session,
                Draft(parse_segment(segment), "telegram", NEWS, created_by="test"),
                company="Northwind Goods",
                knowledge_path=SAMPLE_KNOWLEDGE_PATH,
            )
        ids.append(campaign_id)
    sending, finished = ids

    result = await asyncio.to_thread(_cli, database_url, str(sending))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"update #{sending} cancelled: 3 recipient(s) will not get it",
        f"update #{sending}: 0 sent, 0 failed, 0 skipped, 3 cancelled",
    ]
    again = await asyncio.to_thread(_cli, database_url, str(sending))
    assert again.returncode == 0 and "already cancelled" in again.stdout
    done = await asyncio.to_thread(_cli, database_url, str(finished))
    assert done.returncode == 1 and f"update #{finished} is already done" in done.stderr
    missing = await asyncio.to_thread(_cli, database_url, "99")
    assert missing.returncode == 1 and "no update #99" in missing.stderr

    [audit] = await audit_rows(sessions)
    assert audit.campaign_id == sending and audit.actor.startswith("cli")
    assert audit.agent_id is None and audit.detail == {"recipients": 3}
    await engine.dispose()
