"""The alert worker against a real database and real senders talking to fake providers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.handoff import alerting
from helpdesk.handoff.alerts import AlertStatus
from helpdesk.store import alerts as alert_store
from helpdesk.store import handoff as handoff_store
from helpdesk.store.types import utcnow
from tests.alerts.conftest import (
    LAST_MESSAGE,
    PHONES,
    PUBLIC_URL,
    Escalate,
    MakeSettings,
    MakeWorker,
    Team,
    alert_rows,
)
from tests.fakes.sendgrid_server import FakeSendGrid
from tests.fakes.twilio_server import FakeTwilio

Sessions = async_sessionmaker[AsyncSession]
SLA_PASSED = 1.1  # handoff_sla_seconds is 1 in these tests


async def claim(sessions: Sessions, conversation_id: int, agent_id: int) -> None:
    # What HandoffService.claim does, minus its log line: it passes `event=` to structlog,
    # whose first parameter is called `event`, and raises TypeError after the commit.
    async with sessions.begin() as session:
        assert await handoff_store.change_state(
            session,
            conversation_id,
            from_states=("waiting",),
            to_state="human",
            event="claim",
            actor=f"agent:{agent_id}",
            owner=agent_id,
            values={"assigned_agent_id": agent_id, "claimed_at": utcnow()},
        )


def mail_to(mail: dict[str, Any]) -> str:
    return str(mail["personalizations"][0]["to"][0]["email"])


def mail_text(mail: dict[str, Any]) -> str:
    return str(mail["content"][0]["value"])


async def test_one_escalation_one_sms_with_what_the_agent_needs(
    sessions: Sessions,
    make_settings: MakeSettings,
    make_worker: MakeWorker,
    team: Team,
    escalate: Escalate,
    fake_twilio: FakeTwilio,
    fake_sendgrid: FakeSendGrid,
) -> None:
    worker = make_worker(make_settings())
    conversation_id = await escalate()
    worker.escalated(conversation_id)
    await worker.step()

    [sms] = fake_twilio.messages
    assert sms["To"] == PHONES["ana"]  # the first available agent
    assert sms["StatusCallback"] == f"{PUBLIC_URL}/twilio/status"
    body = sms["Body"]
    assert "Maria Lopez" in body
    assert "asked for a person" in body
    assert "blender arrived broken" in body
    assert f"{PUBLIC_URL}/console/conversations/{conversation_id}" in body
    [row] = await alert_rows(sessions)
    assert (row.status, row.kind, row.agent_id, row.channel) == ("sent", "first", team.ana, "sms")
    assert row.provider_id in fake_twilio.resources
    assert row.sent_at is not None and row.attempts == 1

    # Planning again, within the SLA, sends nothing: one alert per escalation.
    for _ in range(3):
        worker.escalated(conversation_id)
        await worker.step()
    assert len(fake_twilio.messages) == 1
    assert fake_sendgrid.mails == []


async def test_email_alert_carries_the_last_messages_and_the_link(
    sessions: Sessions,
    make_settings: MakeSettings,
    make_worker: MakeWorker,
    team: Team,
    escalate: Escalate,
    fake_twilio: FakeTwilio,
    fake_sendgrid: FakeSendGrid,
) -> None:
    # SMS comes first in the settings, but only SendGrid is configured: email it is,
    # not a "logged" SMS that would count as Ana's alert.
    worker = make_worker(make_settings(sms=False))
    conversation_id = await escalate()
    await worker.step()
    await worker.step()

    [mail] = fake_sendgrid.mails
    assert mail_to(mail) == "ana@northwind.example"
    assert "Maria Lopez" in mail["subject"] and "asked for a person" in mail["subject"]
    text = mail_text(mail)
    assert f"Customer: {LAST_MESSAGE}" in text
    assert "Reason: asked for a person - asked for a human" in text
    assert f"{PUBLIC_URL}/console/conversations/{conversation_id}" in text
    assert fake_twilio.messages == []
    [row] = await alert_rows(sessions)
    assert row.provider_id == fake_sendgrid.message_ids[0]


async def test_unclaimed_after_the_sla_the_next_agent_then_an_admin(
    sessions: Sessions,
    make_settings: MakeSettings,
    make_worker: MakeWorker,
    team: Team,
    escalate: Escalate,
    fake_twilio: FakeTwilio,
) -> None:
    worker = make_worker(make_settings())
    conversation_id = await escalate()
    await worker.step()
    assert [m["To"] for m in fake_twilio.messages] == [PHONES["ana"]]

    await asyncio.sleep(SLA_PASSED)
    await worker.step()
    # Cat is away: the next available agent is Bob.
    assert [m["To"] for m in fake_twilio.messages] == [PHONES["ana"], PHONES["bob"]]
    assert fake_twilio.messages[1]["Body"].startswith("Northwind Goods: Still unclaimed:")

    await asyncio.sleep(SLA_PASSED)
    await worker.step()
    assert fake_twilio.messages[2]["To"] == PHONES["boss"]
    assert "Unclaimed, please assign" in fake_twilio.messages[2]["Body"]
    kinds = [(row.kind, row.agent_id) for row in await alert_rows(sessions, conversation_id)]
    assert kinds == [("first", team.ana), ("next_agent", team.bob), ("admin", team.boss)]


async def test_a_claimed_conversation_gets_no_more_alerts(
    sessions: Sessions,
    make_settings: MakeSettings,
    make_worker: MakeWorker,
    team: Team,
    escalate: Escalate,
    fake_twilio: FakeTwilio,
) -> None:
    worker = make_worker(make_settings())
    claimed = await escalate()
    claimed_late = await escalate()
    await worker.step()
    assert len(fake_twilio.messages) == 2

    await claim(sessions, claimed, team.ana)
    await asyncio.sleep(SLA_PASSED)
    # The other one's re-alert is queued, then the conversation is claimed before it goes.
    await worker.plan_due()
    await claim(sessions, claimed_late, team.bob)
    await worker.step()
    await worker.step()

    assert len(fake_twilio.messages) == 2
    assert [row.status for row in await alert_rows(sessions, claimed)] == ["sent"]
    late = await alert_rows(sessions, claimed_late)
    assert [(row.kind, row.status) for row in late] == [
        ("first", "sent"),
        ("next_agent", "cancelled"),
    ]


async def test_sms_failing_with_500_is_retried_then_falls_back_to_email(
    sessions: Sessions,
    make_settings: MakeSettings,
    make_worker: MakeWorker,
    team: Team,
    escalate: Escalate,
    fake_twilio: FakeTwilio,
    fake_sendgrid: FakeSendGrid,
) -> None:
    worker = make_worker(
        make_settings(handoff_sla_seconds=60), poll_interval=0.05, max_backoff=0.05
    )
    fake_twilio.fail_next(status=500, times=5)
    conversation_id = await escalate()
    stop = asyncio.Event()
    loop = asyncio.create_task(worker.run(stop))
    try:
        worker.escalated(conversation_id)
        [mail] = await fake_sendgrid.wait_for_mails(1, timeout=10)
    finally:
        stop.set()
        await loop

    assert mail_to(mail) == "ana@northwind.example"  # same agent, the other channel
    assert fake_twilio.messages == []
    sms, email = await alert_rows(sessions, conversation_id)
    assert (sms.channel, sms.status, sms.attempts) == ("sms", "failed", 5)
    assert "gave up after 5 attempts" in (sms.last_error or "")
    assert "Twilio 500" in (sms.last_error or "")
    assert (email.channel, email.kind, email.status) == ("email", "fallback", "sent")
    # The console's list of failures shows the SMS.
    async with sessions() as session:
        failed = await alert_store.recent_failed_alerts(session)
    assert [row.id for row in failed] == [sms.id]


async def test_a_rejected_sms_falls_back_to_email_at_once(
    sessions: Sessions,
    make_settings: MakeSettings,
    make_worker: MakeWorker,
    team: Team,
    escalate: Escalate,
    fake_twilio: FakeTwilio,
    fake_sendgrid: FakeSendGrid,
) -> None:
    fake_twilio.invalid_numbers.add(PHONES["ana"])  # 400, code 21211
    worker = make_worker(make_settings())
    conversation_id = await escalate()
    await worker.step()
    await worker.step()  # the failure asked for a new plan: no SLA wait

    [mail] = fake_sendgrid.mails
    assert mail_to(mail) == "ana@northwind.example"
    sms, email = await alert_rows(sessions, conversation_id)
    assert (sms.status, sms.attempts) == ("failed", 1)
    assert "21211" in (sms.last_error or "")
    assert (email.kind, email.status) == ("fallback", "sent")


async def test_an_email_failing_with_400_falls_back_to_sms(
    sessions: Sessions,
    make_settings: MakeSettings,
    make_worker: MakeWorker,
    team: Team,
    escalate: Escalate,
    fake_twilio: FakeTwilio,
    fake_sendgrid: FakeSendGrid,
) -> None:
    fake_sendgrid.fail_next(status=400)
    worker = make_worker(make_settings(handoff_alert_channels=["email", "sms"]))
    conversation_id = await escalate()
    await worker.step()
    await worker.step()

    assert [m["To"] for m in fake_twilio.messages] == [PHONES["ana"]]
    email, sms = await alert_rows(sessions, conversation_id)
    assert (email.channel, email.status) == ("email", "failed")
    assert "SendGrid 400" in (email.last_error or "")
    assert (sms.channel, sms.kind, sms.status) == ("sms", "fallback", "sent")


class RecordingLog:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def _record(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))

    info = warning = error = exception = _record


async def test_without_providers_alerts_are_recorded_as_logged(
    sessions: Sessions,
    make_settings: MakeSettings,
    make_worker: MakeWorker,
    team: Team,
    escalate: Escalate,
    fake_twilio: FakeTwilio,
    fake_sendgrid: FakeSendGrid,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recording = RecordingLog()
    monkeypatch.setattr(alerting, "log", recording)
    worker = make_worker(make_settings(sms=False, email=False))
    conversation_id = await escalate()
    await worker.step()
    await worker.step()

    assert fake_twilio.messages == [] and fake_sendgrid.mails == []
    [row] = await alert_rows(sessions, conversation_id)
    assert (row.status, row.agent_id, row.channel) == ("logged", team.ana, "sms")
    assert row.sent_at is not None
    async with sessions() as session:
        shown = await alert_store.recent_alerts(session, statuses=("logged",))
        # It counts as an alert: the ladder waits for the SLA, then moves on.
        [record] = await alert_store.alert_history(session, conversation_id, row.created_at)
    assert [r.id for r in shown] == [row.id]
    assert record.status == AlertStatus.SENT
    [logged] = [fields for event, fields in recording.events if event == "alert.logged"]
    assert "Maria Lopez" in logged["text"] and "blender" in logged["text"]
    assert logged["conversation_id"] == conversation_id


async def test_a_restart_sends_nothing_twice(
    sessions: Sessions,
    make_settings: MakeSettings,
    make_worker: MakeWorker,
    team: Team,
    escalate: Escalate,
    fake_twilio: FakeTwilio,
) -> None:
    settings = make_settings(handoff_sla_seconds=60)
    first = make_worker(settings)
    sent_before = await escalate()
    await first.step()  # its alert is sent...
    queued_before = await escalate()
    first.escalated(queued_before)
    await first.plan_due()  # ...this one's only queued when the process dies
    assert len(fake_twilio.messages) == 1

    for _ in range(2):  # two restarts, several rounds each
        worker = make_worker(settings)
        await worker.step()
        await worker.step()
    assert len(fake_twilio.messages) == 2
    for conversation_id in (sent_before, queued_before):
        assert len(await alert_rows(sessions, conversation_id)) == 1


async def test_two_workers_never_queue_or_send_one_alert_twice(
    sessions: Sessions,
    make_settings: MakeSettings,
    make_worker: MakeWorker,
    team: Team,
    escalate: Escalate,
    fake_twilio: FakeTwilio,
) -> None:
    settings = make_settings(handoff_sla_seconds=60)
    await escalate()
    one, two = make_worker(settings), make_worker(settings)
    await asyncio.gather(one.plan_due(), two.plan_due())
    async with sessions.begin() as session:
        [row] = await alert_store.due_alerts(session)
        # A third worker takes the row for a moment, then dies without a word.
        assert await alert_store.claim(session, row.id, lease=0.3) == 1

    await asyncio.gather(one.step(), two.step())
    assert fake_twilio.messages == []  # not while the other one might still be sending
    await asyncio.sleep(0.35)
    await asyncio.gather(one.step(), two.step())
    await asyncio.gather(one.step(), two.step())

    assert len(fake_twilio.messages) == 1
    [row] = await alert_rows(sessions)
    assert (row.status, row.attempts) == ("sent", 2)


async def test_nobody_on_duty_then_an_agent_comes_back(
    sessions: Sessions,
    make_settings: MakeSettings,
    make_worker: MakeWorker,
    escalate: Escalate,
    fake_twilio: FakeTwilio,
) -> None:
    from helpdesk.store import agents as agent_store

    async with sessions.begin() as session:
        agent = await agent_store.create_agent(
            session,
            email="zoe@northwind.example",
            name="Zoe",
            password="correct horse",
            phone="+14155550177",
        )
        await agent_store.set_available(session, agent.id, False)
    worker = make_worker(make_settings())
    await escalate()
    await worker.step()
    assert fake_twilio.messages == []

    async with sessions.begin() as session:
        await agent_store.set_available(session, agent.id, True)
    await asyncio.sleep(SLA_PASSED)
    await worker.step()
    assert [m["To"] for m in fake_twilio.messages] == ["+14155550177"]
