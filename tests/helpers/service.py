"""Settings that point the service at the fake providers."""

from __future__ import annotations

from typing import Any

from tests.fakes.sendgrid_server import FakeSendGrid
from tests.fakes.twilio_server import FakeTwilio

TWILIO_SENDER = "+15005550006"  # Twilio's magic "valid sender" test number


def twilio_settings(fake: FakeTwilio, sender: str = TWILIO_SENDER) -> dict[str, Any]:
    """SMS through the fake Twilio's Messages API, from `sender`."""
    return {
        "twilio_account_sid": fake.account_sid,
        "twilio_auth_token": fake.auth_token,
        "twilio_from": sender,
        "twilio_api_base": fake.base_url,
    }


def sendgrid_settings(fake: FakeSendGrid, sender: str) -> dict[str, Any]:
    """Email through the fake SendGrid, from `sender`."""
    return {
        "sendgrid_api_key": fake.api_key,
        "sendgrid_from": sender,
        "sendgrid_api_base": fake.base_url,
    }
