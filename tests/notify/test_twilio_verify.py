"""One-time codes through the real twilio SDK's Verify client to the fake Twilio."""

from __future__ import annotations

import pytest

from helpdesk.notify import NotifyRejected, NotifyRetryLater, PhoneVerifier
from helpdesk.notify.twilio_verify import TwilioVerify
from tests.fakes.twilio_server import FakeTwilio

CUSTOMER = "+15551234567"


async def test_right_code_is_approved(fake_twilio: FakeTwilio, verifier: TwilioVerify) -> None:
    assert isinstance(verifier, PhoneVerifier)
    assert await verifier.start_verification(CUSTOMER) == "pending"
    assert fake_twilio.verifications == [{"To": CUSTOMER, "Channel": "sms"}]

    assert await verifier.check_verification(CUSTOMER, fake_twilio.verify_code) is True
    assert fake_twilio.checks == [{"To": CUSTOMER, "Code": fake_twilio.verify_code}]


async def test_wrong_code_is_not_approved_and_the_user_may_retry(
    fake_twilio: FakeTwilio, verifier: TwilioVerify
) -> None:
    await verifier.start_verification(CUSTOMER)
    assert await verifier.check_verification(CUSTOMER, "000000") is False
    assert await verifier.check_verification(CUSTOMER, fake_twilio.verify_code) is True


async def test_a_code_works_once(fake_twilio: FakeTwilio, verifier: TwilioVerify) -> None:
    await verifier.start_verification(CUSTOMER)
    assert await verifier.check_verification(CUSTOMER, fake_twilio.verify_code) is True
    # Twilio answers 404 for an approved (or expired) verification.
    assert await verifier.check_verification(CUSTOMER, fake_twilio.verify_code) is False


async def test_check_without_verification_is_false(verifier: TwilioVerify) -> None:
    assert await verifier.check_verification(CUSTOMER, "123456") is False


async def test_too_many_wrong_codes_is_rejected(
    fake_twilio: FakeTwilio, verifier: TwilioVerify
) -> None:
    await verifier.start_verification(CUSTOMER)
    for _ in range(5):
        assert await verifier.check_verification(CUSTOMER, "000000") is False
    # A 429 from Twilio, but waiting would not help: it is final for this verification.
    with pytest.raises(NotifyRejected) as caught:
        await verifier.check_verification(CUSTOMER, fake_twilio.verify_code)
    assert caught.value.code == 60202


async def test_invalid_number_is_rejected(verifier: TwilioVerify) -> None:
    with pytest.raises(NotifyRejected) as caught:
        await verifier.start_verification("not-a-number")
    assert caught.value.code == 60200


async def test_rate_limited_start_is_retry_later(
    fake_twilio: FakeTwilio, verifier: TwilioVerify
) -> None:
    fake_twilio.fail_next(status=429, code=60203, message="Max send attempts reached")
    with pytest.raises(NotifyRetryLater):
        await verifier.start_verification(CUSTOMER)
    assert fake_twilio.verifications == []


async def test_unknown_service_is_rejected(fake_twilio: FakeTwilio) -> None:
    verify = TwilioVerify(
        fake_twilio.account_sid,
        fake_twilio.auth_token,
        "VA" + "0" * 32,
        verify_api_base=fake_twilio.base_url,
    )
    try:
        with pytest.raises(NotifyRejected) as caught:
            await verify.start_verification(CUSTOMER)
    finally:
        await verify.aclose()
    assert caught.value.status == 404
