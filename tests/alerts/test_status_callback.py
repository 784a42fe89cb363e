"""POST /twilio/status through the real app: signed callbacks record delivery, others 403."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.api import twilio
from helpdesk.app import create_app
from helpdesk.config import Settings
from helpdesk.handoff.alerting import AlertWorker
from tests.alerts.conftest import PHONES, Escalate, MakeSettings, MakeWorker, Team, alert_rows
from tests.e2e.service import RunningService
from tests.fakes.sendgrid_server import FakeSendGrid
from tests.fakes.twilio_server import FakeTwilio
from tests.fakes.twilio_webhooks import twilio_signature

Sessions = async_sessionmaker[AsyncSession]


class IdleBrain:
    """Stands in for the brain: the status route never asks it anything, and loading the
    real embedding model would cost these tests some 15 seconds."""

    encoder = None
    article_count = 0

    async def aclose(self) -> None:
        return None


class AlertService(RunningService):
    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.app = create_app(settings, IdleBrain())  # type: ignore[arg-type]
        # Until app.py includes the router itself.
        if not any(getattr(r, "path", None) == "/twilio/status" for r in self.app.routes):
            self.app.include_router(twilio.router)


Start = Callable[..., Awaitable[tuple[AlertService, AlertWorker]]]


@pytest.fixture
async def start(
    make_settings: MakeSettings, make_worker: MakeWorker, tmp_path: Path
) -> AsyncIterator[Start]:
    """The service, and the alert worker running beside it (the app's own once wired)."""
    services: list[AlertService] = []
    stop = asyncio.Event()
    loops: list[asyncio.Task[None]] = []

    async def run(**overrides: Any) -> tuple[AlertService, AlertWorker]:
        settings = make_settings(data_dir=str(tmp_path), handoff_sla_seconds=60, **overrides)
        service = AlertService(settings)
        services.append(service)
        await service.start()
        # Twilio signs the URL it calls; here that is the loopback port just picked.
        settings.public_url = service.base_url
        worker: AlertWorker | None = getattr(service.runtime, "alerts", None)
        if worker is None:  # what app.py's wiring will do
            worker = make_worker(settings, poll_interval=0.05)
            service.runtime.alerts = worker  # type: ignore[attr-defined]
            loops.append(asyncio.create_task(worker.run(stop)))
        return service, worker

    yield run
    stop.set()
    await asyncio.gather(*loops)
    for service in services:
        await service.stop()


async def test_only_signed_status_callbacks_record_the_delivery(
    sessions: Sessions,
    start: Start,
    team: Team,
    escalate: Escalate,
    fake_twilio: FakeTwilio,
) -> None:
    service, worker = await start()
    worker.escalated(await escalate())
    [sms] = await fake_twilio.wait_for_messages(1)
    url = sms["StatusCallback"]
    assert url == f"{service.base_url}/twilio/status"
    sid = await _until_sent(sessions)

    assert await fake_twilio.send_status_callback(url, sid, "undelivered", sign=False) == 403
    params = {"MessageSid": sid, "MessageStatus": "undelivered", "AccountSid": "AC0"}
    forgeries = (
        twilio_signature(url, params, "not-the-auth-token"),
        twilio_signature(url, {**params, "MessageStatus": "delivered"}, fake_twilio.auth_token),
        twilio_signature(url + "?x=1", params, fake_twilio.auth_token),
        "",
    )
    for signature in forgeries:
        response = await service.http.post(
            url, data=params, headers={"X-Twilio-Signature": signature}
        )
        assert response.status_code == 403
    [row] = await alert_rows(sessions)
    assert (row.status, row.delivery_status) == ("sent", None)

    assert await fake_twilio.send_status_callback(url, sid, "sent") == 200
    assert await fake_twilio.send_status_callback(url, sid, "delivered") == 200
    # Twilio does not promise order: a late "sent" must not undo "delivered".
    assert await fake_twilio.send_status_callback(url, sid, "sent") == 200
    [row] = await alert_rows(sessions)
    assert (row.status, row.delivery_status) == ("sent", "delivered")


async def test_undelivered_sms_fails_the_alert_and_email_takes_over(
    sessions: Sessions,
    start: Start,
    team: Team,
    escalate: Escalate,
    fake_twilio: FakeTwilio,
    fake_sendgrid: FakeSendGrid,
) -> None:
    _service, worker = await start()
    worker.escalated(await escalate())
    [sms] = await fake_twilio.wait_for_messages(1)
    sid = await _until_sent(sessions)

    status = await fake_twilio.send_status_callback(sms["StatusCallback"], sid, "undelivered")
    assert status == 200
    [mail] = await fake_sendgrid.wait_for_mails(1)
    assert mail["personalizations"][0]["to"][0]["email"] == "ana@northwind.example"
    first, fallback = await alert_rows(sessions)
    assert (first.status, first.delivery_status) == ("failed", "undelivered")
    assert first.last_error == "provider reported undelivered (error 30003)"
    assert (fallback.channel, fallback.kind) == ("email", "fallback")

    # A message that is not one of our alerts: acknowledged, so Twilio does not retry.
    from helpdesk.notify.twilio_sms import TwilioSms

    other = TwilioSms(
        fake_twilio.account_sid,
        fake_twilio.auth_token,
        "+15005550006",
        api_base=fake_twilio.base_url,
    )
    stranger = await other.send_sms(PHONES["bob"], "not an alert")
    await other.aclose()
    assert await fake_twilio.send_status_callback(sms["StatusCallback"], stranger) == 200


async def _until_sent(sessions: Sessions, timeout: float = 5.0) -> str:
    """The SID of the one alert, once the worker has recorded it."""
    async with asyncio.timeout(timeout):
        while True:
            rows = await alert_rows(sessions)
            sid = rows[0].provider_id if rows else None
            if sid:
                return str(sid)
            await asyncio.sleep(0.02)
