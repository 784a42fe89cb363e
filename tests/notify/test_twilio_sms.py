"""SMS through the real twilio SDK to the fake Twilio: what is sent, and how errors map."""

from __future__ import annotations

import asyncio
import re
import warnings

import pytest

from helpdesk.notify import NotifyRejected, NotifyRetryLater, SmsSender
from helpdesk.notify.twilio_sms import TwilioSms
from tests.fakes.twilio_server import FakeTwilio
from tests.notify.conftest import SENDER_NUMBER

CUSTOMER = "+15551234567"


async def test_sms_is_sent_as_twilio_expects(fake_twilio: FakeTwilio, sms: TwilioSms) -> None:
    assert isinstance(sms, SmsSender)
    callback = "https://helpdesk.example.com/notify/twilio/status"
    sid = await sms.send_sms(CUSTOMER, "Your order has shipped 📦", status_callback=callback)

    assert re.fullmatch(r"SM[0-9a-f]{32}", sid)
    assert fake_twilio.messages == [
        {
            "To": CUSTOMER,
            "From": SENDER_NUMBER,
            "Body": "Your order has shipped 📦",
            "StatusCallback": callback,
        }
    ]
    assert fake_twilio.resources[sid]["status"] == "queued"
    assert fake_twilio.spec_violations == []


async def test_no_status_callback_parameter_when_none_given(
    fake_twilio: FakeTwilio, sms: TwilioSms
) -> None:
    await sms.send_sms(CUSTOMER, "hello")
    assert "StatusCallback" not in fake_twilio.messages[0]


async def test_no_deprecation_warning_from_the_http_layer(sms: TwilioSms) -> None:
    # The SDK's own aiohttp client warns about `auth=` on every request.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        await sms.send_sms(CUSTOMER, "hello")


async def test_concurrent_sends_share_one_client(fake_twilio: FakeTwilio, sms: TwilioSms) -> None:
    sids = await asyncio.gather(*(sms.send_sms(CUSTOMER, f"message {i}") for i in range(10)))
    assert len(set(sids)) == 10
    assert len(await fake_twilio.wait_for_messages(10, timeout=2)) == 10


async def test_rate_limit_is_retry_later(fake_twilio: FakeTwilio, sms: TwilioSms) -> None:
    fake_twilio.fail_next(status=429)
    with pytest.raises(NotifyRetryLater) as caught:
        await sms.send_sms(CUSTOMER, "hello")
    assert caught.value.retry_after > 0
    assert fake_twilio.messages == []
    # The limit passed: the same call now goes through.
    assert (await sms.send_sms(CUSTOMER, "hello")).startswith("SM")


async def test_retry_after_header_is_honoured(fake_twilio: FakeTwilio, sms: TwilioSms) -> None:
    fake_twilio.fail_next(status=429, retry_after=7)
    with pytest.raises(NotifyRetryLater) as caught:
        await sms.send_sms(CUSTOMER, "hello")
    assert caught.value.retry_after == 7


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_are_retry_later(
    fake_twilio: FakeTwilio, sms: TwilioSms, status: int
) -> None:
    fake_twilio.fail_next(status=status)
    with pytest.raises(NotifyRetryLater):
        await sms.send_sms(CUSTOMER, "hello")


async def test_dropped_connection_is_retry_later(fake_twilio: FakeTwilio, sms: TwilioSms) -> None:
    fake_twilio.fail_next(status=0)
    with pytest.raises(NotifyRetryLater):
        await sms.send_sms(CUSTOMER, "hello")


async def test_unreachable_twilio_is_retry_later() -> None:
    sms = TwilioSms("AC" + "0" * 32, "x" * 32, SENDER_NUMBER, api_base="http://127.0.0.1:9")
    try:
        with pytest.raises(NotifyRetryLater):
            await sms.send_sms(CUSTOMER, "hello")
    finally:
        await sms.aclose()


@pytest.mark.parametrize("number", ["+15005550001", "12345", "+1 555 123"])
async def test_invalid_number_is_rejected(
    fake_twilio: FakeTwilio, sms: TwilioSms, number: str
) -> None:
    with pytest.raises(NotifyRejected) as caught:
        await sms.send_sms(number, "hello")
    assert caught.value.code == 21211
    assert caught.value.status == 400
    assert fake_twilio.messages == []


async def test_opted_out_recipient_is_rejected(fake_twilio: FakeTwilio, sms: TwilioSms) -> None:
    fake_twilio.opted_out.add(CUSTOMER)
    with pytest.raises(NotifyRejected) as caught:
        await sms.send_sms(CUSTOMER, "hello")
    assert caught.value.code == 21610


async def test_too_long_body_is_rejected(sms: TwilioSms) -> None:
    with pytest.raises(NotifyRejected) as caught:
        await sms.send_sms(CUSTOMER, "x" * 1601)
    assert caught.value.code == 21617


async def test_wrong_credentials_are_rejected(fake_twilio: FakeTwilio) -> None:
    sms = TwilioSms(
        fake_twilio.account_sid, "wrong-token", SENDER_NUMBER, api_base=fake_twilio.base_url
    )
    try:
        with pytest.raises(NotifyRejected) as caught:
            await sms.send_sms(CUSTOMER, "hello")
    finally:
        await sms.aclose()
    assert caught.value.status == 401
    assert caught.value.code == 20003
