"""Email through the real sendgrid SDK (in a worker thread) to the fake SendGrid."""

from __future__ import annotations

import asyncio
import time

import pytest

from helpdesk.notify import EmailSender, NotifyRejected, NotifyRetryLater
from helpdesk.notify.sendgrid_email import SendGridEmail
from tests.fakes.sendgrid_server import FakeSendGrid

CUSTOMER = "ann@customer.example"


async def test_email_is_sent_as_sendgrid_expects(
    fake_sendgrid: FakeSendGrid, email: SendGridEmail
) -> None:
    assert isinstance(email, EmailSender)
    message_id = await email.send_email(
        CUSTOMER, "Your ticket #42", "We replied to your ticket.", "<p>We replied.</p>"
    )

    assert message_id == fake_sendgrid.message_ids[0]
    assert fake_sendgrid.mails == [
        {
            "from": {"name": "Northwind Support", "email": "help@northwind.example"},
            "subject": "Your ticket #42",
            "personalizations": [{"to": [{"email": CUSTOMER}]}],
            "content": [
                {"type": "text/plain", "value": "We replied to your ticket."},
                {"type": "text/html", "value": "<p>We replied.</p>"},
            ],
        }
    ]
    assert fake_sendgrid.spec_violations == []


async def test_text_only_email(fake_sendgrid: FakeSendGrid, email: SendGridEmail) -> None:
    await email.send_email(CUSTOMER, "Hi", "Plain text only")
    assert fake_sendgrid.mails[0]["content"] == [{"type": "text/plain", "value": "Plain text only"}]


async def test_sending_does_not_block_the_event_loop(
    fake_sendgrid: FakeSendGrid, email: SendGridEmail
) -> None:
    # The fake runs in this loop: if the SDK's blocking call ran here, it could never
    # be answered. Several at once also shows they run side by side in threads.
    started = time.monotonic()
    ids = await asyncio.gather(*(email.send_email(CUSTOMER, f"n{i}", "x") for i in range(5)))
    assert len(set(ids)) == 5
    assert len(await fake_sendgrid.wait_for_mails(5, timeout=2)) == 5
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_are_retry_later(
    fake_sendgrid: FakeSendGrid, email: SendGridEmail, status: int
) -> None:
    fake_sendgrid.fail_next(status=status)
    with pytest.raises(NotifyRetryLater):
        await email.send_email(CUSTOMER, "Hi", "text")
    assert fake_sendgrid.mails == []
    assert await email.send_email(CUSTOMER, "Hi", "text")


async def test_rate_limit_waits_until_the_window_resets(
    fake_sendgrid: FakeSendGrid, email: SendGridEmail
) -> None:
    fake_sendgrid.fail_next(status=429)
    with pytest.raises(NotifyRetryLater) as caught:
        await email.send_email(CUSTOMER, "Hi", "text")
    assert 0 <= caught.value.retry_after <= 2


async def test_dropped_connection_is_retry_later(
    fake_sendgrid: FakeSendGrid, email: SendGridEmail
) -> None:
    fake_sendgrid.fail_next(status=0)
    with pytest.raises(NotifyRetryLater):
        await email.send_email(CUSTOMER, "Hi", "text")


async def test_unreachable_sendgrid_is_retry_later() -> None:
    email = SendGridEmail("SG.x.y", "help@northwind.example", api_base="http://127.0.0.1:9")
    with pytest.raises(NotifyRetryLater):
        await email.send_email(CUSTOMER, "Hi", "text")


async def test_bad_api_key_is_rejected(fake_sendgrid: FakeSendGrid) -> None:
    email = SendGridEmail("SG.wrong.key", "help@northwind.example", api_base=fake_sendgrid.base_url)
    with pytest.raises(NotifyRejected) as caught:
        await email.send_email(CUSTOMER, "Hi", "text")
    assert caught.value.status == 401
    assert fake_sendgrid.mails == []


async def test_unverified_sender_is_rejected(
    fake_sendgrid: FakeSendGrid, email: SendGridEmail
) -> None:
    fake_sendgrid.verified_senders = {"someone-else@northwind.example"}
    with pytest.raises(NotifyRejected) as caught:
        await email.send_email(CUSTOMER, "Hi", "text")
    assert caught.value.status == 403
    assert "verified Sender Identity" in str(caught.value)
