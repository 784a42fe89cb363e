"""Wiring from Settings, and the import boundary between domain code and SDKs."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from helpdesk.config import Settings
from helpdesk.notify import build_senders, build_verifier, close_senders
from helpdesk.notify.sendgrid_email import SendGridEmail
from helpdesk.notify.twilio_sms import TwilioSms
from helpdesk.notify.twilio_verify import TwilioVerify
from tests.fakes.sendgrid_server import FakeSendGrid
from tests.fakes.twilio_server import FakeTwilio


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def test_nothing_configured_means_no_senders() -> None:
    assert build_senders(_settings()) == (None, None)
    assert build_verifier(_settings()) is None


def test_incomplete_settings_mean_no_sender() -> None:
    settings = _settings(twilio_account_sid="AC" + "0" * 32, sendgrid_api_key="SG.x.y")
    assert build_senders(settings) == (None, None)


async def test_configured_senders_reach_their_servers(
    fake_twilio: FakeTwilio, fake_sendgrid: FakeSendGrid
) -> None:
    settings = _settings(
        twilio_account_sid=fake_twilio.account_sid,
        twilio_auth_token=fake_twilio.auth_token,
        twilio_from="+15005550006",
        twilio_api_base=fake_twilio.base_url,
        twilio_verify_service_sid=fake_twilio.verify_service_sid,
        twilio_verify_api_base=fake_twilio.base_url,
        sendgrid_api_key=fake_sendgrid.api_key,
        sendgrid_from="help@northwind.example",
        sendgrid_api_base=fake_sendgrid.base_url,
    )
    sms, email = build_senders(settings)
    verifier = build_verifier(settings)
    assert isinstance(sms, TwilioSms)
    assert isinstance(email, SendGridEmail)
    assert isinstance(verifier, TwilioVerify)
    try:
        await sms.send_sms("+15551234567", "hi")
        await email.send_email("ann@customer.example", "Hi", "text")
        assert await verifier.start_verification("+15551234567") == "pending"
    finally:
        await close_senders(sms, email, verifier, None)
    assert len(fake_twilio.messages) == 1
    assert len(fake_sendgrid.mails) == 1


def test_importing_the_package_does_not_load_the_sdks() -> None:
    code = (
        "import sys, helpdesk.notify, helpdesk.notify.base\n"
        "loaded = [m for m in ('twilio', 'sendgrid') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
