"""Notification fixtures: fake Twilio and SendGrid servers, adapters pointed at them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from helpdesk.notify.sendgrid_email import SendGridEmail
from helpdesk.notify.twilio_sms import TwilioSms
from helpdesk.notify.twilio_verify import TwilioVerify
from tests.fakes.sendgrid_server import FakeSendGrid
from tests.fakes.twilio_server import FakeTwilio

SENDER_NUMBER = "+15005550006"  # Twilio's magic "valid sender" test number
SENDER_EMAIL = "Northwind Support <help@northwind.example>"


@pytest.fixture
async def sms(fake_twilio: FakeTwilio) -> AsyncIterator[TwilioSms]:
    sender = TwilioSms(
        fake_twilio.account_sid,
        fake_twilio.auth_token,
        SENDER_NUMBER,
        api_base=fake_twilio.base_url,
        timeout=5,
    )
    yield sender
    await sender.aclose()


@pytest.fixture
async def verifier(fake_twilio: FakeTwilio) -> AsyncIterator[TwilioVerify]:
    verify = TwilioVerify(
        fake_twilio.account_sid,
        fake_twilio.auth_token,
        fake_twilio.verify_service_sid,
        verify_api_base=fake_twilio.base_url,
        timeout=5,
    )
    yield verify
    await verify.aclose()


@pytest.fixture
def email(fake_sendgrid: FakeSendGrid) -> SendGridEmail:
    return SendGridEmail(
        fake_sendgrid.api_key, SENDER_EMAIL, api_base=fake_sendgrid.base_url, timeout=5
    )
