"""The alert worker: plans agent alerts for waiting conversations and sends them.

One loop does both halves, each crash-safe on its own:
1. planning: every waiting conversation that was just escalated, or whose next check
   (the SLA) has come, goes through `plan_alerts` with the agents on duty and its
   alert history; the planned alerts are inserted as outbox rows under a dedup key,
   so planning again (a retry, a restart) never queues one twice;
2. delivery: due rows are claimed (a lease), sent by SMS or email and marked sent,
   rescheduled with backoff, or failed. A failed row makes its conversation due for
   planning at once, and `plan_alerts` then falls back to the agent's other channel.
A channel with no provider configured is not sent to: its alerts are recorded as
`logged` (the console shows them) and written to the log.

A crash after the provider accepted a message but before the row says so resends it
when the lease runs out: an agent may, rarely, get an alert twice, never none.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.config import Settings
from helpdesk.domain import ConversationState
from helpdesk.handoff.alerts import (
    Agent,
    AlertContext,
    Channel,
    PlannedAlert,
    alert_text,
    plan_alerts,
)
from helpdesk.handoff.events import EventBus
from helpdesk.notify import (
    EmailSender,
    NotifyRejected,
    NotifyRetryLater,
    SmsSender,
    close_senders,
)
from helpdesk.notify.base import mask_email, mask_phone
from helpdesk.store import alerts as alert_store
from helpdesk.store.models import Alert
from helpdesk.store.types import utcnow

log = structlog.get_logger(__name__)

WAITING = ConversationState.WAITING.value
STATUS_PATH = "/twilio/status"


def status_callback_url(settings: Settings) -> str:
    return settings.public_url.rstrip("/") + STATUS_PATH


class AlertWorker:
    """Start `run(stop)` as a task; call `escalated(id)` after an escalation commits."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        sms: SmsSender | None,
        email: EmailSender | None,
        *,
        poll_interval: float = 1.0,
        max_attempts: int = 5,
        max_backoff: float = 60.0,
        lease: float = 120.0,
        concurrency: int = 8,
        rescan_interval: float = 30.0,
        events: EventBus | None = None,
    ) -> None:
        self._sessions = sessions
        # Failures go to the console live: an agent should not learn from a customer
        # that nobody was alerted.
        self._events = events
        self._settings = settings
        self._sms = sms
        self._email = email
        self._poll_interval = poll_interval
        # Alerts are urgent: after a minute or so of retries, the other channel is the
        # better bet, and it is what a failed row leads to.
        self._max_attempts = max(1, max_attempts)
        self._max_backoff = max_backoff
        # Longer than any send can take (the senders time out after 15 s), so a row is
        # only taken over from a worker that is gone.
        self._lease = lease
        self._slots = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._poked: set[int] = set()
        # When each waiting conversation is next planned; not stored, since planning is
        # idempotent: after a restart every waiting conversation is simply planned once.
        self._next_check: dict[int, datetime] = {}
        # Finding every waiting conversation is a scan of the conversations table, so it
        # is done now and then; `escalated()` brings new ones in between.
        self._rescan_interval = rescan_interval
        self._rescan_at: datetime | None = None

    @property
    def channels(self) -> frozenset[Channel] | None:
        """The alert channels that have a provider; None (every channel in the settings)
        when none has, so the alerts are planned all the same, and logged."""
        configured = {
            channel
            for channel, sender in ((Channel.SMS, self._sms), (Channel.EMAIL, self._email))
            if sender is not None
        }
        wanted = {name.strip().lower() for name in self._settings.handoff_alert_channels}
        usable = frozenset(c for c in configured if c.value in wanted)
        return usable or None

    def escalated(self, conversation_id: int) -> None:
        """Plan alerts for this conversation now (safe from any code on the loop)."""
        self._poked.add(conversation_id)
        self._wake.set()

    def settings_changed(self, _settings: object = None) -> None:
        """Re-plan every waiting conversation now: their next checks were timed with the
        old SLA (planning is idempotent, so nothing is sent twice)."""
        self._poked.update(self._next_check)
        self._rescan_at = None
        self._wake.set()

    # A failed delivery is news for the plan just as an escalation is.
    recheck = escalated

    def delivery_failed(self, conversation_id: int | None, channel: str) -> None:
        """An alert failed (here, or as the provider reported): tell the console, re-plan."""
        if self._events is not None:
            self._events.publish(
                "alert", conversation_id=conversation_id, channel=channel, status="failed"
            )
        if conversation_id is not None:
            self.recheck(conversation_id)  # the plan falls back to the other channel

    async def run(self, stop: asyncio.Event) -> None:
        log.info(
            "alerts.started",
            sms=self._sms is not None,
            email=self._email is not None,
            sla_seconds=self._settings.handoff_sla_seconds,
        )
        while not stop.is_set():
            self._wake.clear()
            try:
                next_due = await self.step()
            except Exception as error:  # database away: keep the loop alive and retry
                log.warning("alerts.step_failed", error=repr(error))
                next_due = None
            timeout = self._poll_interval
            if next_due is not None:
                timeout = max(0.0, min(timeout, (next_due - utcnow()).total_seconds()))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    waiters = [
                        asyncio.ensure_future(self._wake.wait()),
                        asyncio.ensure_future(stop.wait()),
                    ]
                    try:
                        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        for waiter in waiters:
                            waiter.cancel()
        log.info("alerts.stopped")

    async def aclose(self) -> None:
        """Release the senders' connections (call once `run` has returned)."""
        await close_senders(self._sms, self._email)

    async def step(self) -> datetime | None:
        """Plan what is due, send what is due; return when something is next due."""
        await self.plan_due()
        return await self.deliver_due()

    # ---- planning ------------------------------------------------------------------------

    async def plan_due(self) -> int:
        """Queue the alerts due now; return how many rows were added."""
        now = utcnow()
        due, self._poked = self._poked, set()
        due.update(c for c, when in self._next_check.items() if when <= now)
        if self._rescan_at is None or self._rescan_at <= now:
            # Escalations nobody told us about: before this start, or in another process.
            async with self._sessions() as session:
                waiting = set(await alert_store.waiting_conversations(session))
            for gone in self._next_check.keys() - waiting:
                del self._next_check[gone]  # claimed, released or resolved
            due.update(waiting - self._next_check.keys())
            self._rescan_at = now + timedelta(seconds=self._rescan_interval)
        if not due:
            return 0
        async with self._sessions() as session:
            agents = await alert_store.agents_on_duty(session)
        queued = 0
        for conversation_id in sorted(due):
            try:
                queued += await self._plan_one(conversation_id, agents)
            except Exception as error:
                log.warning(
                    "alerts.plan_failed", conversation_id=conversation_id, error=repr(error)
                )
                self._next_check[conversation_id] = now + timedelta(seconds=5)
        return queued

    async def _plan_one(self, conversation_id: int, agents: list[Agent]) -> int:
        sla = timedelta(seconds=self._settings.handoff_sla_seconds)
        async with self._sessions.begin() as session:
            escalated_at = await alert_store.waiting_since(session, conversation_id)
            if escalated_at is None:
                self._next_check.pop(conversation_id, None)
                return 0
            # Never before the escalation (it may have committed a moment ago, or on a
            # host whose clock runs ahead): an alert stamped earlier would not count as
            # one of this escalation's, and the ladder would stall on its first rung.
            now = max(utcnow(), escalated_at)
            history = await alert_store.alert_history(session, conversation_id, escalated_at)
            plan = plan_alerts(
                state=ConversationState.WAITING,
                escalated_at=escalated_at,
                agents=agents,
                history=history,
                settings=self._settings,
                now=now,
                channels=self.channels,
            )
            new_ids: list[int] = []
            if plan.alerts:
                context = await alert_store.alert_context(session, conversation_id)
                if context is None:
                    return 0
                rows = [
                    self._row(conversation_id, escalated_at, alert, context, now)
                    for alert in plan.alerts
                ]
                new_ids = await alert_store.queue_alerts(session, rows, now=now)
        # Nothing planned ("nobody to alert") is looked at again after an SLA: someone
        # may have come on duty since.
        self._next_check[conversation_id] = plan.next_check_at or now + sla
        if plan.alerts:
            log.info(
                "alerts.planned",
                conversation_id=conversation_id,
                note=plan.note,
                queued=len(new_ids),
            )
        return len(new_ids)

    def _row(
        self,
        conversation_id: int,
        escalated_at: datetime,
        alert: PlannedAlert,
        context: AlertContext,
        now: datetime,
    ) -> alert_store.NewAlert:
        text = alert_text(context, self._settings, kind=alert.kind, now=now)
        return alert_store.NewAlert(
            conversation_id=conversation_id,
            agent_id=int(alert.agent.id) if alert.agent.id.isdigit() else None,
            channel=alert.channel.value,
            recipient=alert.to,
            kind=alert.kind.value,
            subject=text.subject if alert.channel == Channel.EMAIL else None,
            body=text.for_channel(alert.channel),
            dedup_key=alert_store.dedup_key(
                conversation_id,
                escalated_at,
                alert.kind.value,
                alert.agent.id,
                alert.channel.value,
            ),
        )

    # ---- delivery ------------------------------------------------------------------------

    async def deliver_due(self) -> datetime | None:
        """Send every due row; return when the next row or planning check is due."""
        async with self._sessions() as session:
            rows = await alert_store.due_alerts(session)
        await asyncio.gather(*(self._deliver(row) for row in rows))
        async with self._sessions() as session:
            next_row = await alert_store.next_attempt_at(session)
        times = [t for t in (next_row, min(self._next_check.values(), default=None)) if t]
        return min(times, default=None)

    async def _deliver(self, row: Alert) -> None:
        async with self._slots:
            try:
                await self._deliver_one(row)
            except Exception as error:  # a database hiccup: the lease brings the row back
                log.warning("alert.deliver_failed", alert_id=row.id, error=repr(error))

    async def _deliver_one(self, row: Alert) -> None:
        async with self._sessions.begin() as session:
            attempt = await alert_store.claim(session, row.id, lease=self._lease)
            if attempt is None:
                return  # another worker has it, or it is done
            state = await alert_store.conversation_state(session, row.conversation_id)
            if state != WAITING:
                await alert_store.cancel(session, row.id, f"conversation is {state}")
                log.info("alert.cancelled", alert_id=row.id, conversation_id=row.conversation_id)
                return
        fields: dict[str, object] = {
            "alert_id": row.id,
            "conversation_id": row.conversation_id,
            "agent_id": row.agent_id,
            "channel": row.channel,
            "kind": row.kind,
            "to": mask_phone(row.recipient)
            if row.channel == Channel.SMS.value
            else mask_email(row.recipient),
        }
        sms = self._sms if row.channel == Channel.SMS.value else None
        email = self._email if row.channel == Channel.EMAIL.value else None
        if sms is None and email is None:
            async with self._sessions.begin() as session:
                await alert_store.mark_logged(session, row.id)
            # The log (and the console) are where this alert reaches anyone.
            log.warning("alert.logged", **fields, subject=row.subject, text=row.body)
            return
        try:
            if sms is not None:
                provider_id: str | None = await sms.send_sms(
                    row.recipient, row.body, status_callback=status_callback_url(self._settings)
                )
            else:
                assert email is not None
                provider_id = await email.send_email(
                    row.recipient, row.subject or "", row.body, row.html
                )
        except NotifyRejected as error:
            await self._fail(row, str(error), fields)
            return
        except Exception as error:
            if not isinstance(error, NotifyRetryLater):
                # A sender bug must not spin: it is retried, and fails, like an outage.
                log.exception("alert.send_crashed", **fields)
            hint = error.retry_after if isinstance(error, NotifyRetryLater) else 0.0
            if attempt >= self._max_attempts:
                await self._fail(row, f"gave up after {attempt} attempts: {error}", fields)
                return
            delay = min(max(hint, 2.0 ** (attempt - 1)), self._max_backoff)
            log.warning("alert.retry", **fields, attempt=attempt, delay=delay, error=str(error))
            async with self._sessions.begin() as session:
                await alert_store.reschedule(session, row.id, delay, str(error))
            return
        async with self._sessions.begin() as session:
            await alert_store.mark_sent(session, row.id, provider_id)
        log.info("alert.sent", **fields, provider_id=provider_id, attempt=attempt)

    async def _fail(self, row: Alert, error: str, fields: dict[str, object]) -> None:
        async with self._sessions.begin() as session:
            await alert_store.mark_failed(session, row.id, error)
        log.error("alert.failed", **fields, error=error)
        self.delivery_failed(row.conversation_id, row.channel)
