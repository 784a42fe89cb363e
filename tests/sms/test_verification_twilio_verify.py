"""Phone verification through Twilio Verify: Twilio makes, sends and checks the code.

Chosen by configuring HELPDESK_TWILIO_VERIFY_SERVICE_SID; the chat flow, limits and
wording are the same as with our own codes, and no code is ever in our database.
"""

from __future__ import annotations

from datetime import timedelta

from helpdesk.store.types import utcnow
from tests.fakes.twilio_server import FakeTwilio
from tests.sms.conftest import NewCustomer

ADA = 7101
PHONE = "+447911123456"
WRONG = "000000"


async def test_twilio_verify_sends_and_checks_the_code(
    new_customer: NewCustomer, fake_twilio: FakeTwilio
) -> None:
    ada = await new_customer(ADA, verify=True)
    await ada.says("/verify")

    sent = await ada.shares_contact(PHONE.lstrip("+"), contact_user_id=ADA)
    assert "sent a 6-digit code to +44" in sent["text"]
    assert fake_twilio.verifications == [{"To": PHONE, "Channel": "sms"}]
    assert fake_twilio.messages == []  # Verify sends the SMS itself
    [row] = [r for r in await ada.verifications() if r.sent_at is not None]
    assert row.backend == "twilio_verify"
    assert row.code_hash is None and row.code_salt is None

    done = await ada.says(fake_twilio.verify_code)
    assert "is verified" in done["text"]
    assert fake_twilio.checks == [{"To": PHONE, "Code": fake_twilio.verify_code}]
    verified = await ada.row()
    assert verified.phone_e164 == PHONE and verified.phone_verified_at is not None


async def test_wrong_codes_count_down_and_the_fifth_locks_the_verification(
    new_customer: NewCustomer, fake_twilio: FakeTwilio
) -> None:
    ada = await new_customer(ADA, verify=True)
    await ada.asks_for_a_code(PHONE, typed=True)

    texts = [(await ada.says(WRONG))["text"] for _ in range(5)]
    assert texts[0] == "That code isn't right. You have 4 more tries."
    assert texts[3] == "That code isn't right. You have 1 more try."
    assert "Too many wrong codes" in texts[4]
    assert len(fake_twilio.checks) == 5
    # Over: the right code is not even sent to Twilio.
    assert "is verified" not in (await ada.says(fake_twilio.verify_code))["text"]
    assert len(fake_twilio.checks) == 5
    assert (await ada.row()).phone_verified_at is None


async def test_twilios_own_attempt_limit_locks_it_too(
    new_customer: NewCustomer, fake_twilio: FakeTwilio
) -> None:
    # Our limit set above Twilio's: Twilio answers 60202 (429) at its sixth check.
    ada = await new_customer(ADA, verify=True, verify_max_attempts=10)
    await ada.asks_for_a_code(PHONE, typed=True)
    for _ in range(5):
        assert "isn't right" in (await ada.says(WRONG))["text"]
    locked = await ada.says(fake_twilio.verify_code)
    assert "Too many wrong codes" in locked["text"]
    assert (await ada.verifications())[-1].status == "failed"


async def test_an_expired_verification_is_refused_without_asking_twilio(
    new_customer: NewCustomer, fake_twilio: FakeTwilio
) -> None:
    ada = await new_customer(ADA, verify=True)
    await ada.asks_for_a_code(PHONE, typed=True)
    await ada.move_verification(expires_at=utcnow() - timedelta(seconds=1))

    expired = await ada.says(fake_twilio.verify_code)
    assert expired["text"] == "That code has expired. Send /verify to get a new one."
    assert fake_twilio.checks == []


async def test_resend_cooldown_and_send_failures_behave_as_with_our_own_codes(
    new_customer: NewCustomer, fake_twilio: FakeTwilio
) -> None:
    ada = await new_customer(ADA, verify=True)
    await ada.says("/verify")

    fake_twilio.invalid_numbers.add(PHONE)  # Verify: 60200 invalid parameter `To`
    failed = await ada.says(PHONE)
    assert failed["text"] == (
        "Sorry, I couldn't send a code to that number. Please check it and try again "
        "in a few minutes."
    )
    fake_twilio.invalid_numbers.discard(PHONE)
    assert "sent a 6-digit code" in (await ada.says(PHONE))["text"]
    assert "ask for a new one in" in (await ada.says(PHONE))["text"]
    assert len(fake_twilio.verifications) == 1


async def test_a_check_during_a_twilio_outage_costs_no_attempt(
    new_customer: NewCustomer, fake_twilio: FakeTwilio
) -> None:
    ada = await new_customer(ADA, verify=True)
    await ada.asks_for_a_code(PHONE, typed=True)

    fake_twilio.fail_next(status=503)
    outage = await ada.says(fake_twilio.verify_code)
    assert "can't check codes right now" in outage["text"]
    fake_twilio.fail_next(status=401)  # e.g. a rotated auth token: not the customer's doing
    refused = await ada.says(fake_twilio.verify_code)
    assert refused["text"] == outage["text"]
    assert (await ada.verifications())[-1].attempts == 0
    assert "is verified" in (await ada.says(fake_twilio.verify_code))["text"]
