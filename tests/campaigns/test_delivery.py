"""Customer updates end to end: the service sends a campaign by Telegram and SMS
through the fakes, honours every opt-out, and survives a restart half-way."""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import select

from helpdesk.store.models import Customer
from tests.campaigns.conftest import (
    StartService,
    add_customer,
    recipients,
    start_campaign,
    wait_done,
)
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.telegram_updates import tg_text_update
from tests.fakes.twilio_server import FakeTwilio

NEWS = "Hello {name}, our warehouse moves on Monday: orders ship a day later."


def campaign_texts(tg: FakeTelegram, marker: str = "warehouse moves") -> Counter[int]:
    return Counter(m["chat_id"] for m in tg.sent_messages() if marker in m.get("text", ""))


async def test_an_update_reaches_each_customer_once_with_their_name(
    start: StartService, telegram: FakeTelegram, fake_twilio: FakeTwilio
) -> None:
    service = await start()
    sessions = service.runtime.sessions
    await add_customer(sessions, 101, first_name="Maria")
    await add_customer(sessions, 102, first_name="Jonas", phone="+14155550102", sms_opt_in=True)
    campaign_id = await start_campaign(service, NEWS, channel="both", link="https://n.example/x")

    progress = await wait_done(sessions, campaign_id)
    assert (progress.sent("telegram"), progress.sent("sms"), progress.failed()) == (2, 1, 0)
    assert campaign_texts(telegram) == {101: 1, 102: 1}
    [maria] = [m for m in telegram.sent_messages(101) if "warehouse" in m["text"]]
    assert maria["text"].startswith("Hello Maria,")
    assert "https://n.example/x" in maria["text"]
    [sms] = fake_twilio.messages
    assert sms["To"] == "+14155550102"
    assert sms["Body"].startswith("Hello Jonas, our warehouse moves")
    assert sms["StatusCallback"] == f"{service.base_url}/twilio/status"
    # The dedup key the outbox was given names the campaign and the customer.
    rows = await recipients(sessions, campaign_id)
    assert all(row.outbox_id for row in rows if row.channel == "telegram")
    assert {row.external_id is not None for row in rows} == {True}


async def test_nobody_who_opted_out_gets_an_update(
    start: StartService, telegram: FakeTelegram, fake_twilio: FakeTwilio
) -> None:
    service = await start()
    sessions = service.runtime.sessions
    await add_customer(sessions, 201, phone="+14155550201", sms_opt_in=True)  # stays in
    await add_customer(sessions, 202, phone="+14155550202", sms_opt_in=True)  # /notifications off
    await add_customer(sessions, 203, phone="+14155550203", sms_opt_in=True)  # SMS STOP
    await add_customer(sessions, 204, phone="+14155550204")  # verified, never opted in to SMS

    # Customer 202 switches updates off in the chat.
    await service.send_update(tg_text_update(1, 202, "/notifications off"))
    [reply] = await telegram.wait_for_messages(1, chat_id=202)
    assert "no more updates" in reply["text"]
    # Customer 203 replies STOP to our SMS number (a synonym, in lower case).
    status, twiml = await fake_twilio.send_inbound_sms(
        f"{service.base_url}/twilio/inbound", "+14155550203", " unsubscribe "
    )
    assert status == 200 and twiml.startswith("<?xml")

    campaign_id = await start_campaign(service, NEWS, channel="both")
    progress = await wait_done(sessions, campaign_id)

    assert campaign_texts(telegram) == {201: 1, 203: 1, 204: 1}
    assert sorted(m["To"] for m in fake_twilio.messages) == ["+14155550201"]
    assert progress.sent() == 4

    # START by SMS subscribes 203 again; the next update reaches that number.
    status, twiml = await fake_twilio.send_inbound_sms(
        f"{service.base_url}/twilio/inbound", "+14155550203", "START"
    )
    assert status == 200 and "again" in twiml
    again = await start_campaign(
        service, "Second: {first_name}, the warehouse moves", channel="sms"
    )
    await wait_done(sessions, again)
    assert sorted(m["To"] for m in fake_twilio.messages) == [
        "+14155550201",
        "+14155550201",
        "+14155550203",
    ]


async def test_an_opt_out_after_the_campaign_was_created_still_stops_it(
    start: StartService, telegram: FakeTelegram
) -> None:
    # Telegram at 2 messages/s, two at a time in the outbox: the campaign is still
    # sending when the customer opts out.
    service = await start(telegram_rate_limit=2.0, campaign_outbox_window=2)
    sessions = service.runtime.sessions
    for chat in range(301, 309):
        await add_customer(sessions, chat)
    campaign_id = await start_campaign(service, NEWS)
    await telegram.wait_for_messages(1)
    await service.send_update(tg_text_update(1, 308, "/notifications off"))
    progress = await wait_done(sessions, campaign_id, timeout=30)

    texts = campaign_texts(telegram)
    assert 308 not in texts
    assert set(texts.values()) == {1}
    assert progress.sent() == 7 and progress.skipped() == 1


async def test_help_by_sms_and_forged_keywords(
    start: StartService, fake_twilio: FakeTwilio
) -> None:
    service = await start()
    sessions = service.runtime.sessions
    customer = await add_customer(sessions, 401, phone="+14155550401", sms_opt_in=True)
    url = f"{service.base_url}/twilio/inbound"

    status, twiml = await fake_twilio.send_inbound_sms(url, "+14155550401", "help")
    assert status == 200 and "Reply STOP to unsubscribe" in twiml

    # Unsigned, or signed with another token, a STOP is refused and changes nothing.
    status, _ = await fake_twilio.send_inbound_sms(url, "+14155550401", "STOP", sign=False)
    assert status == 403
    forged = await service.http.post(
        url,
        data={"From": "+14155550401", "Body": "STOP"},
        headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
    )
    assert forged.status_code == 403
    async with sessions() as session:
        row = await session.scalar(select(Customer).where(Customer.id == customer))
        assert row is not None and row.sms_opted_out_at is None

    status, _ = await fake_twilio.send_inbound_sms(url, "+14155550401", "STOP")
    assert status == 200
    async with sessions() as session:
        row = await session.scalar(select(Customer).where(Customer.id == customer))
        assert row is not None and row.sms_opted_out_at is not None

    # A custom keyword set up in Twilio's Advanced Opt-Out arrives with its OptOutType.
    status, twiml = await fake_twilio.send_inbound_sms(
        url, "+14155550401", "Weiter bitte", opt_out_type="START"
    )
    assert status == 200 and "again" in twiml
    async with sessions() as session:
        row = await session.scalar(select(Customer).where(Customer.id == customer))
        assert row is not None and row.sms_opted_in_at and row.sms_opted_out_at
        assert row.sms_opted_in_at > row.sms_opted_out_at


async def test_twilio_429_is_retried_and_status_callbacks_update_the_row(
    start: StartService, fake_twilio: FakeTwilio
) -> None:
    service = await start()
    sessions = service.runtime.sessions
    await add_customer(sessions, 501, phone="+14155550501", sms_opt_in=True)
    await add_customer(sessions, 502, phone="+14155550502", sms_opt_in=True)
    fake_twilio.fail_next(status=429, retry_after=1)
    campaign_id = await start_campaign(service, NEWS, channel="sms")
    await wait_done(sessions, campaign_id)

    rows = {row.address: row for row in await recipients(sessions, campaign_id)}
    assert {row.status for row in rows.values()} == {"sent"}
    assert sorted(row.attempts for row in rows.values()) == [1, 2]
    assert len(fake_twilio.messages) == 2

    first, second = rows["+14155550501"], rows["+14155550502"]
    url = f"{service.base_url}/twilio/status"
    assert first.external_id and second.external_id
    assert await fake_twilio.send_status_callback(url, first.external_id, "delivered") == 200
    assert await fake_twilio.send_status_callback(url, second.external_id, "undelivered") == 200
    # A late "sent" must not undo "delivered".
    assert await fake_twilio.send_status_callback(url, first.external_id, "sent") == 200
    rows = {row.address: row for row in await recipients(sessions, campaign_id)}
    assert (rows["+14155550501"].status, rows["+14155550501"].delivery_status) == (
        "delivered",
        "delivered",
    )
    assert rows["+14155550502"].status == "failed"
    assert "30003" in (rows["+14155550502"].error or "")


async def test_a_restart_half_way_sends_each_recipient_exactly_once(
    start: StartService, telegram: FakeTelegram, fake_twilio: FakeTwilio
) -> None:
    slow = {"telegram_rate_limit": 5.0, "campaign_sms_rate": 5.0}
    service = await start(**slow)
    sessions = service.runtime.sessions
    chats = list(range(601, 621))
    for n, chat in enumerate(chats):
        await add_customer(sessions, chat, phone=f"+1415555{chat:04d}", sms_opt_in=n % 2 == 0)
    campaign_id = await start_campaign(service, NEWS, channel="both")
    await telegram.wait_for_messages(3, timeout=20)
    await fake_twilio.wait_for_messages(2, timeout=20)
    await service.stop()

    sent_before = sum(campaign_texts(telegram).values()), len(fake_twilio.messages)
    assert sent_before[0] < len(chats) and sent_before[1] < len(chats) // 2, sent_before

    again = await start(**slow)
    progress = await wait_done(again.runtime.sessions, campaign_id, timeout=30)
    await asyncio.sleep(0.3)  # nothing more may trickle out

    assert campaign_texts(telegram) == dict.fromkeys(chats, 1)
    numbers = Counter(m["To"] for m in fake_twilio.messages)
    assert numbers == {f"+1415555{chat:04d}": 1 for n, chat in enumerate(chats) if n % 2 == 0}
    assert (progress.sent(), progress.failed(), progress.pending()) == (30, 0, 0)


async def test_an_update_already_in_the_outbox_is_held_back_after_an_opt_out(
    start: StartService, telegram: FakeTelegram
) -> None:
    service = await start()
    sessions = service.runtime.sessions
    await add_customer(sessions, 1101)
    # Telegram answers the update's first try with 429: it waits in the outbox for a retry.
    telegram.fail_next("sendMessage", status=429, retry_after=2)
    campaign_id = await start_campaign(service, NEWS)
    for _ in range(200):
        if telegram.calls_to("sendMessage"):
            break
        await asyncio.sleep(0.05)
    [row] = await recipients(sessions, campaign_id)
    assert row.status == "queued"

    await service.send_update(tg_text_update(1, 1101, "/notifications off"))
    [reply] = await telegram.wait_for_messages(1, chat_id=1101, timeout=15)
    assert "no more updates" in reply["text"]
    progress = await wait_done(sessions, campaign_id)

    assert campaign_texts(telegram) == {}
    assert (progress.sent(), progress.skipped()) == (0, 1)
    [row] = await recipients(sessions, campaign_id)
    assert (row.status, row.error) == ("skipped", "opted out")
