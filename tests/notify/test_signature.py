"""X-Twilio-Signature on status callbacks: the fake signs like Twilio, we check with the SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from helpdesk.notify.signature import public_request_url, twilio_signature_valid
from helpdesk.notify.twilio_sms import TwilioSms
from tests.fakes.twilio_server import FakeTwilio
from tests.fakes.twilio_webhooks import twilio_signature


@dataclass
class Receiver:
    """A stand-in for our webhook endpoint: records what Twilio posted."""

    url: str = ""
    posts: list[tuple[dict[str, str], str | None]] = field(default_factory=list)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()

    async def handle(request: web.Request) -> web.Response:
        form = await request.post()
        params = {k: str(v) for k, v in form.items()}
        found.posts.append((params, request.headers.get("X-Twilio-Signature")))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/notify/twilio/status", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    found.url = f"http://127.0.0.1:{runner.addresses[0][1]}/notify/twilio/status?ticket=42"
    yield found
    await runner.cleanup()


async def _signed_callback(
    fake: FakeTwilio, sms: TwilioSms, receiver: Receiver, *, sign: bool = True
) -> tuple[dict[str, str], str | None]:
    sid = await sms.send_sms("+15551234567", "hello", status_callback=receiver.url)
    assert await fake.send_status_callback(receiver.url, sid, "delivered", sign=sign) == 204
    return receiver.posts[-1]


async def test_signed_callback_is_valid(
    fake_twilio: FakeTwilio, sms: TwilioSms, receiver: Receiver
) -> None:
    params, signature = await _signed_callback(fake_twilio, sms, receiver)
    assert params["MessageStatus"] == "delivered"
    assert params["AccountSid"] == fake_twilio.account_sid
    assert twilio_signature_valid(receiver.url, params, signature, fake_twilio.auth_token)


async def test_missing_signature_is_invalid(
    fake_twilio: FakeTwilio, sms: TwilioSms, receiver: Receiver
) -> None:
    params, signature = await _signed_callback(fake_twilio, sms, receiver, sign=False)
    assert signature is None
    assert not twilio_signature_valid(receiver.url, params, signature, fake_twilio.auth_token)
    assert not twilio_signature_valid(receiver.url, params, "", fake_twilio.auth_token)


async def test_altered_params_are_invalid(
    fake_twilio: FakeTwilio, sms: TwilioSms, receiver: Receiver
) -> None:
    params, signature = await _signed_callback(fake_twilio, sms, receiver)
    for changed in (
        {**params, "MessageStatus": "failed"},
        {**params, "ErrorCode": "30003"},
        {k: v for k, v in params.items() if k != "To"},
    ):
        assert not twilio_signature_valid(receiver.url, changed, signature, fake_twilio.auth_token)


async def test_forged_signature_or_other_url_is_invalid(
    fake_twilio: FakeTwilio, sms: TwilioSms, receiver: Receiver
) -> None:
    params, signature = await _signed_callback(fake_twilio, sms, receiver)
    forged = twilio_signature(receiver.url, params, "not-the-auth-token")
    assert not twilio_signature_valid(receiver.url, params, forged, fake_twilio.auth_token)
    assert not twilio_signature_valid(receiver.url, params, signature, "another-token")
    # Signed over the public URL: the same request seen under another URL fails.
    other = receiver.url.replace("ticket=42", "ticket=43")
    assert not twilio_signature_valid(other, params, signature, fake_twilio.auth_token)


def test_twilios_documented_example() -> None:
    # The example from Twilio's webhook security documentation.
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675310",
        "Digits": "1234",
        "From": "+14158675310",
        "To": "+18005551212",
    }
    token = "12345"
    signature = twilio_signature(url, params, token)
    assert signature == "GvWf1cFY/Q7PnoempGyD5oXAezc="
    assert twilio_signature_valid(url, params, signature, token)


def test_public_request_url_rebuilds_what_twilio_called() -> None:
    assert (
        public_request_url("https://help.example.com/", "/notify/twilio/status?ticket=42")
        == "https://help.example.com/notify/twilio/status?ticket=42"
    )
