"""Phone verification with our own codes: an SMS through Twilio Messages, a hash in the DB.

A customer sends /verify, shares their number with Telegram's contact button (or
types it), receives a 6-digit code by SMS and types it in the chat.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from helpdesk.store.models import PhoneVerification
from helpdesk.store.types import utcnow
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.twilio_server import FakeTwilio
from tests.sms.conftest import SENDER, NewCustomer, code_in, customer, keyboard_buttons

ADA = 7001
PHONE = "+4915112345678"


async def test_customer_shares_their_number_and_verifies_it_with_the_code(
    new_customer: NewCustomer, fake_twilio: FakeTwilio
) -> None:
    ada = await new_customer(ADA)

    ask = await ada.says("/verify")
    assert "verify your phone number" in ask["text"]
    markup = ask["reply_markup"]
    assert markup["one_time_keyboard"] is True
    [share, cancel] = keyboard_buttons(ask)
    assert share["request_contact"] is True
    assert cancel["text"] == "Cancel"

    # Telegram sends the shared number without its "+".
    sent = await ada.shares_contact(PHONE.lstrip("+"), contact_user_id=ADA)
    assert "sent a 6-digit code to +49" in sent["text"]
    assert PHONE not in sent["text"]  # shown masked
    assert sent["reply_markup"] == {"remove_keyboard": True}
    [sms] = fake_twilio.messages
    assert sms["To"] == PHONE and sms["From"] == SENDER
    code = code_in(sms)
    assert "Northwind Goods" in sms["Body"]

    # The code itself is nowhere in the verification row: only a salted HMAC.
    [row] = [r for r in await ada.verifications() if r.status == "pending"]
    assert row.phone_e164 == PHONE and row.backend == "own"
    assert row.code_hash is not None and len(row.code_hash) == 64
    columns = [str(getattr(row, c.key)) for c in PhoneVerification.__table__.columns]
    assert not any(code in value for value in columns)
    assert (row.expires_at - row.sent_at) == timedelta(minutes=10)
    assert (await ada.row()).phone_verified_at is None

    done = await ada.says(code)
    assert "is verified" in done["text"]
    assert done["reply_markup"] == {"remove_keyboard": True}
    verified = await ada.row()
    assert verified.phone_e164 == PHONE
    assert verified.phone_verified_at is not None
    [row] = [r for r in await ada.verifications() if r.sent_at is not None]
    assert row.status == "verified" and row.attempts == 1

    # Once verified, six digits are an ordinary message again, for the brain.
    after = await ada.says("654321")
    assert "isn't right" not in after["text"] and "expired" not in after["text"]


async def test_a_typed_number_is_normalised_to_e164(
    new_customer: NewCustomer, fake_twilio: FakeTwilio
) -> None:
    ada = await new_customer(ADA, verify_default_region="GB")
    await ada.says("/verify")
    sent = await ada.says("07911 123456")  # national format: the default region fills in +44
    assert "sent a 6-digit code" in sent["text"]
    assert fake_twilio.messages[-1]["To"] == "+447911123456"

    # "/verify <number>" does both steps at once (a new number restarts the flow).
    await ada.move_verification(sent_at=utcnow() - timedelta(minutes=2))
    again = await ada.says("/verify +1 (415) 555-0123")
    assert "sent a 6-digit code" in again["text"]
    assert fake_twilio.messages[-1]["To"] == "+14155550123"


async def test_a_wrong_code_says_how_many_tries_are_left_and_the_fifth_locks_it(
    new_customer: NewCustomer,
) -> None:
    ada = await new_customer(ADA)
    code = await ada.gets_a_code(PHONE)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"

    replies = [(await ada.says(wrong))["text"] for _ in range(4)]
    assert replies == [
        "That code isn't right. You have 4 more tries.",
        "That code isn't right. You have 3 more tries.",
        "That code isn't right. You have 2 more tries.",
        "That code isn't right. You have 1 more try.",
    ]
    locked = await ada.says(wrong)
    assert "Too many wrong codes" in locked["text"]
    [row] = [r for r in await ada.verifications() if r.sent_at is not None]
    assert row.status == "failed" and row.attempts == 5

    # The right code is worth nothing now: the verification is over.
    late = await ada.says(code)
    assert "is verified" not in late["text"]
    assert (await ada.row()).phone_verified_at is None


async def test_an_expired_code_is_refused_even_if_right(new_customer: NewCustomer) -> None:
    ada = await new_customer(ADA)
    code = await ada.gets_a_code(PHONE)
    # Ten minutes later (the row's expiry moved instead of waiting).
    await ada.move_verification(expires_at=utcnow() - timedelta(seconds=1))

    expired = await ada.says(code)
    assert expired["text"] == "That code has expired. Send /verify to get a new one."
    assert (await ada.row()).phone_verified_at is None
    assert (await ada.verifications())[-1].status == "expired"


async def test_a_new_code_waits_for_the_cooldown_and_replaces_the_old_one(
    new_customer: NewCustomer, fake_twilio: FakeTwilio
) -> None:
    ada = await new_customer(ADA)
    first = await ada.gets_a_code(PHONE)

    too_soon = await ada.shares_contact(PHONE, contact_user_id=ADA)
    assert "ask for a new one in" in too_soon["text"]
    seconds = int(too_soon["text"].split(" in ")[1].split()[0])
    assert 55 <= seconds <= 60
    assert len(fake_twilio.messages) == 1  # nothing sent
    # A number typed instead of shared is held to the same cooldown.
    assert "ask for a new one" in (await ada.says(PHONE))["text"]

    await ada.move_verification(sent_at=utcnow() - timedelta(seconds=61))
    resent = await ada.shares_contact(PHONE, contact_user_id=ADA)
    assert "sent a 6-digit code" in resent["text"]
    assert len(fake_twilio.messages) == 2
    second = ada.last_code()

    if first != second:  # one chance in a million that they are equal
        stale = await ada.says(first)
        assert "isn't right" in stale["text"]
    assert "is verified" in (await ada.says(second))["text"]


async def test_codes_are_capped_per_day_per_number_and_per_telegram_user(
    new_customer: NewCustomer, telegram: FakeTelegram, fake_twilio: FakeTwilio
) -> None:
    ada = await new_customer(
        ADA,
        verify_resend_cooldown_seconds=0,
        verify_daily_limit_per_number=2,
        verify_daily_limit_per_user=3,
    )
    await ada.says("/verify")
    for _ in range(2):
        assert "sent a 6-digit code" in (await ada.says(PHONE))["text"]
    capped = await ada.says(PHONE)
    assert "maximum number of codes for today" in capped["text"]
    assert len(fake_twilio.messages) == 2

    # Another customer cannot have that number texted either today...
    bob = customer(ada.service, telegram, 7002)
    await bob.says("/verify")
    assert "maximum number" in (await bob.says(PHONE))["text"]
    # ...and Ada gets one more code, to another number, before her own cap.
    assert "sent a 6-digit code" in (await ada.says("+33612345678"))["text"]
    assert "maximum number" in (await ada.says("+447911123456"))["text"]
    assert len(fake_twilio.messages) == 3

    # A day later the caps are lifted.
    async with ada.service.runtime.sessions.begin() as session:
        for row in (await session.scalars(select(PhoneVerification))).all():
            if row.sent_at is not None:
                row.sent_at -= timedelta(hours=24, seconds=1)
    assert "sent a 6-digit code" in (await ada.says(PHONE))["text"]


async def test_an_invalid_number_or_a_landline_gets_a_clear_message_and_no_sms(
    new_customer: NewCustomer, fake_twilio: FakeTwilio
) -> None:
    ada = await new_customer(ADA)
    await ada.says("/verify")

    invalid = await ada.says("+1 555 555 0123")
    assert "doesn't look like a valid phone number" in invalid["text"]
    assert keyboard_buttons(invalid)[0]["request_contact"] is True  # asked again
    no_country = await ada.says("07911 123456")  # no default region: "+44" is needed
    assert "doesn't look like a valid phone number" in no_country["text"]
    landline = await ada.says("+49 30 123456")
    assert "landline" in landline["text"]
    assert fake_twilio.messages == []

    # Still waiting for a number: a good one now goes through.
    assert "sent a 6-digit code" in (await ada.says("+49 151 12345678"))["text"]


async def test_a_contact_that_is_not_the_senders_own_is_refused(
    new_customer: NewCustomer, fake_twilio: FakeTwilio
) -> None:
    ada = await new_customer(ADA)
    await ada.says("/verify")

    someone_else = await ada.shares_contact(PHONE, contact_user_id=9999)
    assert "isn't you" in someone_else["text"]
    no_user = await ada.shares_contact(PHONE, contact_user_id=None)  # an address-book card
    assert "isn't you" in no_user["text"]
    assert fake_twilio.messages == []
    assert all(row.sent_at is None for row in await ada.verifications())

    assert "sent a 6-digit code" in (await ada.shares_contact(PHONE, contact_user_id=ADA))["text"]


async def test_every_failure_to_send_reads_the_same(
    new_customer: NewCustomer, fake_twilio: FakeTwilio
) -> None:
    ada = await new_customer(ADA, verify_resend_cooldown_seconds=0)
    await ada.says("/verify")

    fake_twilio.invalid_numbers.add(PHONE)  # Twilio: 21211 invalid "To"
    rejected = await ada.says(PHONE)
    fake_twilio.invalid_numbers.discard(PHONE)
    fake_twilio.fail_next(status=500)  # Twilio down
    outage = await ada.says(PHONE)
    fake_twilio.opted_out.add(PHONE)  # 21610: the number replied STOP
    stopped = await ada.says(PHONE)

    assert rejected["text"] == outage["text"] == stopped["text"]
    assert "couldn't send a code to that number" in rejected["text"]
    statuses = [row.status for row in await ada.verifications() if row.sent_at is not None]
    assert statuses == ["send_failed"] * 3
    # The chat is still waiting for a number.
    fake_twilio.opted_out.clear()
    assert "sent a 6-digit code" in (await ada.says(PHONE))["text"]


async def test_cancel_ends_the_verification(new_customer: NewCustomer) -> None:
    ada = await new_customer(ADA)
    code = await ada.gets_a_code(PHONE)

    cancelled = await ada.says("Cancel")
    assert cancelled["text"] == "Okay, I've cancelled the phone verification."
    assert cancelled["reply_markup"] == {"remove_keyboard": True}
    after = await ada.says(code)
    assert "is verified" not in after["text"]
    assert (await ada.row()).phone_verified_at is None
