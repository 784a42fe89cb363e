"""The campaign worker: sends what campaigns planned, survives restarts, reports progress.

Telegram: recipients are handed to the outbox a window at a time
(HELPDESK_CAMPAIGN_OUTBOX_WINDOW), under the dedup key `campaign:{id}:{customer}`;
the outbox dispatcher sends them within Telegram's bot-wide limit, and what it records
is copied back onto the recipient rows. A small window keeps replies to customers from
queueing behind a whole campaign.

SMS: due rows are paced to the sending number's throughput
(HELPDESK_CAMPAIGN_SMS_RATE), claimed with a lease (so two workers, or a worker after
a restart, never send one row twice while it is in flight), sent through Twilio with
our status callback, and marked sent with the message SID. A 429 or an outage
reschedules the row and pauses the whole worker for Twilio's Retry-After.

Consent is checked again right before each send: an opt-out after the campaign was
created still stops it. A cancelled campaign's rows are no longer pending, so they are
neither claimed nor queued (campaigns/cancel.py says what may still go out).
On a graceful stop, sends in flight are let finish, so a restart resends nothing;
after a hard crash, a row whose send was in flight comes due again when its lease ends
(a rare duplicate, never a skip).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.campaigns.consent import sms_allowed, telegram_allowed
from helpdesk.config import Settings
from helpdesk.notify import NotifyRejected, NotifyRetryLater, SmsSender
from helpdesk.notify.base import mask_phone
from helpdesk.store import campaigns as store
from helpdesk.store.types import utcnow

log = structlog.get_logger(__name__)

Render = Callable[[str], list[str]]
STATUS_PATH = "/twilio/status"


class Pacer:
    """At most `rate` sends per second, evenly spaced; `pause()` holds everything."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate
        self._next = 0.0

    async def wait(self) -> None:
        now = time.monotonic()
        at = max(self._next, now)
        self._next = at + self._interval
        if at > now:
            await asyncio.sleep(at - now)

    def delay(self) -> float:
        """Seconds until the next send may go."""
        return max(0.0, self._next - time.monotonic())

    def pause(self, seconds: float) -> None:
        self._next = max(self._next, time.monotonic() + seconds)


class CampaignWorker:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        *,
        sms: SmsSender | None,
        render_telegram: Render | None,
        on_outbox: Callable[[], None] | None = None,
        on_progress: Callable[[list[int]], None] | None = None,
        poll_interval: float = 1.0,
        active_poll_interval: float = 0.2,
        lease: float = 120.0,
        concurrency: int = 4,
        drain_timeout: float = 4.0,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._sms = sms
        self._render = render_telegram
        self._on_outbox = on_outbox
        self._on_progress = on_progress
        self._poll_interval = poll_interval
        # While Telegram rows are in flight, look often: the outbox window must not run dry.
        self._active_poll_interval = active_poll_interval
        # Longer than a send can take (the Twilio client times out after 15 s).
        self._lease = lease
        self._slots = asyncio.Semaphore(concurrency)
        self._drain_timeout = drain_timeout
        self._pacer = Pacer(settings.campaign_sms_rate)
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._touched: set[int] = set()
        self._moved = False  # some Telegram row changed (campaign not known)

    def wake(self) -> None:
        """A campaign was created, or the outbox moved: look now, not at the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        log.info("campaigns.started", sms=self._sms is not None, telegram=self._render is not None)
        while not stop.is_set():
            try:
                busy, active = await self._tick(stop)
            except Exception as error:  # database away: keep the loop alive and retry
                log.warning("campaigns.tick_failed", error=repr(error))
                busy, active = False, False
            if busy:
                continue
            wait = self._active_poll_interval if active else self._poll_interval
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    waiters = [
                        asyncio.ensure_future(self._wake.wait()),
                        asyncio.ensure_future(stop.wait()),
                    ]
                    try:
                        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        for waiter in waiters:
                            waiter.cancel()
            self._wake.clear()
        await self.aclose()

    async def aclose(self) -> None:
        """Let sends in flight finish (their result recorded), then cancel what is left."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=self._drain_timeout)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._report()

    async def _tick(self, stop: asyncio.Event) -> tuple[bool, bool]:
        """One round: (more to do at once, Telegram rows on their way)."""
        active = False
        if self._render is not None:
            active = await self._feed_telegram()
        busy = False
        if self._sms is not None:
            busy = await self._send_sms_batch(stop)
        async with self._sessions.begin() as session:
            finished = await store.finish_campaigns(session)
        for campaign_id in finished:
            log.info("campaign.finished", campaign_id=campaign_id)
        self._touched.update(finished)
        self._report()
        return busy, active

    def _report(self) -> None:
        if (self._touched or self._moved) and self._on_progress is not None:
            self._on_progress(sorted(self._touched))
        self._touched.clear()
        self._moved = False

    # ---- Telegram ---------------------------------------------------------------------------

    def _window(self) -> int:
        """Campaign rows in the outbox at once: at most two seconds' worth at the bot-wide
        limit, so a graceful stop can let every one of them finish (within the
        dispatcher's grace) instead of cutting one off after Telegram took it."""
        window = self._settings.campaign_outbox_window
        rate = self._settings.telegram_rate_limit
        if 0 < 2 * rate < window:
            window = max(1, math.ceil(2 * rate))
        return window

    async def _feed_telegram(self) -> bool:
        """Top the outbox up to the window; True while campaign rows are on their way."""
        assert self._render is not None
        async with self._sessions.begin() as session:
            if await store.reconcile_telegram(session):
                self._moved = True
            queued = await store.count_queued(session)
            room = self._window() - queued
            if room <= 0:
                return True
            due = await store.due_recipients(session, store.TELEGRAM, limit=room)
            for recipient in due:
                self._touched.add(recipient.campaign_id)
                if not telegram_allowed(recipient.consent):
                    await store.mark_skipped(session, recipient.id, "opted out")
                    continue
                await store.queue_telegram(session, recipient, self._render(recipient.body))
        if due and self._on_outbox is not None:
            self._on_outbox()
        return bool(queued or due)

    # ---- SMS --------------------------------------------------------------------------------

    async def _send_sms_batch(self, stop: asyncio.Event) -> bool:
        # Half a second's worth per round: the Telegram feed must not wait on SMS pacing.
        batch = max(1, math.ceil(self._settings.campaign_sms_rate / 2))
        async with self._sessions() as session:
            due = await store.due_recipients(session, store.SMS, limit=batch)
        for recipient in due:
            if self._pacer.delay() > 1.0:
                return False  # paused by a 429: come back on a later round
            # Paced before the claim, so a row is only taken when it can go out at once.
            await self._pacer.wait()
            if stop.is_set():
                return False
            self._touched.add(recipient.campaign_id)
            # A free send slot first, then the claim: a claimed row goes to Twilio at
            # once, so a campaign cancelled after the claim can only meet sends already
            # on their way (a claim needs the row still pending).
            await self._slots.acquire()
            attempt: int | None = None
            try:
                attempt = await self._claim(recipient)
            finally:
                if attempt is None:
                    self._slots.release()
            if attempt is None:
                continue  # skipped, cancelled, or another worker has it
            task = asyncio.create_task(self._send_one(recipient, attempt))
            self._tasks.add(task)
            task.add_done_callback(self._sent)
        return len(due) >= batch

    async def _claim(self, recipient: store.OpenRecipient) -> int | None:
        """Skip a row whose consent or number changed, else claim it; its attempt number."""
        async with self._sessions.begin() as session:
            allowed = sms_allowed(recipient.consent)
            if not allowed or recipient.customer_address != recipient.address:
                reason = "opted out" if not allowed else "phone number changed"
                await store.mark_skipped(session, recipient.id, reason)
                return None
            return await store.claim(session, recipient.id, lease=self._lease)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slots.release()

    async def _send_one(self, recipient: store.OpenRecipient, attempt: int) -> None:
        assert self._sms is not None
        try:
            sid = await self._sms.send_sms(
                recipient.address,
                recipient.body,
                # Read at each send: the public URL is what Twilio will call back.
                status_callback=self._settings.public_url.rstrip("/") + STATUS_PATH,
            )
        except NotifyRetryLater as error:
            # Twilio's 429 is for the account or the number: everyone waits, not just this row.
            self._pacer.pause(error.retry_after)
            delay = max(error.retry_after, min(2.0**attempt, 300.0))
            async with self._sessions.begin() as session:
                if attempt >= self._settings.campaign_sms_max_attempts:
                    await store.mark_failed(session, recipient.id, str(error))
                else:
                    await store.reschedule(session, recipient.id, delay, str(error))
            log.warning(
                "campaign.sms_retry",
                recipient_id=recipient.id,
                attempt=attempt,
                delay=delay,
                error=str(error),
            )
        except NotifyRejected as error:
            async with self._sessions.begin() as session:
                await store.mark_failed(session, recipient.id, str(error))
            log.warning("campaign.sms_rejected", recipient_id=recipient.id, error=str(error))
        else:
            async with self._sessions.begin() as session:
                await store.mark_sent(session, recipient.id, sid)
            log.info(
                "campaign.sms_sent",
                campaign_id=recipient.campaign_id,
                to=mask_phone(recipient.address),
                sid=sid,
                at=utcnow().isoformat(),
            )
        self._touched.add(recipient.campaign_id)
        self.wake()
