"""A failed SMS alert shows on the conversation page and in the admins' list, live."""

from __future__ import annotations

from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.twilio_server import FakeTwilio
from tests.handoff_more.conftest import (
    StartConsole,
    add_agent,
    agent_with_phone,
    browser,
    escalated,
    log_in,
    signed_in,
)
from tests.helpers.service import twilio_settings

BAD_NUMBER = "+14155550123"


async def test_a_rejected_sms_is_shown_on_the_conversation_and_to_admins(
    database_url: str,
    start_console: StartConsole,
    telegram: FakeTelegram,
    fake_twilio: FakeTwilio,
) -> None:
    fake_twilio.invalid_numbers.add(BAD_NUMBER)  # Twilio answers 400, code 21211
    service = await start_console(
        database_url,
        **twilio_settings(fake_twilio),
        handoff_alert_channels=["sms"],
        handoff_sla_seconds=300,
    )
    await agent_with_phone(service, "grace@example.test", "Grace Hopper", BAD_NUMBER)
    await add_agent(service, "alan@example.test", "Alan Turing", role="admin")
    watcher = await signed_in(service, "watcher@example.test")
    # Alan and the watcher have no phone: Grace, the first agent, is the one alerted.

    async with watcher.events() as stream:
        conversation_id = await escalated(service, telegram, 901)
        failed = await stream.next(lambda e: e["type"] == "alert", timeout=15)
    assert failed["conversation_id"] == conversation_id
    assert (failed["channel"], failed["status"]) == ("sms", "failed")

    page_url = f"/console/conversations/{conversation_id}"
    async with browser(service) as grace, browser(service) as alan:
        await log_in(grace, "grace@example.test")
        await log_in(alan, "alan@example.test")
        page = (await grace.get(page_url)).text
        panel = page[page.index('id="failed-alerts"') :]
        panel = panel[: panel.index("</section>")]
        assert "SMS" in panel and "Grace Hopper" in panel and BAD_NUMBER in panel
        assert "21211" in panel, panel  # Twilio's error code, from the stored error

        # The admins' list: every failure, with a link to its conversation.
        listing = await alan.get("/console/alerts")
        assert listing.status_code == 200
        assert f'href="{page_url}"' in listing.text
        assert BAD_NUMBER in listing.text and "21211" in listing.text
        assert 'href="/console/alerts"' in listing.text  # in the admin's navigation
        # Agents see the failures of their conversations, not the admin list.
        assert (await grace.get("/console/alerts")).status_code == 403
        assert 'href="/console/alerts"' not in page


async def test_a_conversation_without_failures_says_so(
    database_url: str, start_console: StartConsole, telegram: FakeTelegram
) -> None:
    # No provider configured: alerts are only logged, and nothing failed.
    service = await start_console(database_url)
    await add_agent(service, "alan@example.test", "Alan Turing", role="admin")
    conversation_id = await escalated(service, telegram, 902)
    async with browser(service) as alan:
        await log_in(alan, "alan@example.test")
        page = (await alan.get(f"/console/conversations/{conversation_id}")).text
        assert "every alert about this conversation went out" in page
        assert "No failed alerts." in (await alan.get("/console/alerts")).text
