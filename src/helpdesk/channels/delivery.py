"""Sending side of the channels: the outbox dispatcher and the Telegram outlet.

The dispatcher is the only code that sends customer messages. It takes the
oldest pending outbox row of each chat, sends it, and records the result; a
failure that may pass (429, 5xx, network) reschedules the row, so a reply
survives a Telegram outage and a restart alike. A reply just queued with nothing
older pending for its chat is handed to it directly (`submit`), sparing a scan.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Protocol

import structlog

from helpdesk.channels.telegram import (
    TelegramClient,
    TelegramRejected,
    TelegramRetryLater,
    markdown_to_telegram_html,
    split_message,
)
from helpdesk.store import outbox
from helpdesk.store.db import Connections
from helpdesk.store.outbox import Queued
from helpdesk.store.types import utcnow

log = structlog.get_logger(__name__)


class RetryLater(Exception):
    def __init__(self, after: float, reason: str) -> None:
        super().__init__(reason)
        self.after = after


class Undeliverable(Exception):
    """The channel refused the message for good (blocked bot, deleted chat)."""


Send = Callable[[Queued], Awaitable[int | None]]

# Awaited by a channel once its rate-limit wait is over, right before the request: a
# last say on the row (raise Undeliverable to refuse), with no wait left after it.
Ready = Callable[[], Awaitable[None]]


class GatedSend(Protocol):
    """A channel's send that runs `ready` between its rate-limit wait and the request."""

    def __call__(self, item: Queued, *, ready: Ready | None = None) -> Awaitable[int | None]: ...


# Pending rows read per scan (after an outage there may be many more).
SCAN_LIMIT = 1000


class OutboxDispatcher:
    def __init__(
        self,
        connect: Connections,
        channel: str,
        send: Send,
        *,
        concurrency: int = 256,
        idle_poll: float = 5.0,
        max_backoff: float = 300.0,
        stop_grace: float = 3.0,
    ) -> None:
        self._connect = connect  # autocommit: each unit here is one statement
        self._channel = channel
        self._send = send
        self._slots = asyncio.Semaphore(concurrency)
        self._busy: set[int] = set()
        self._wake = asyncio.Event()
        self._idle_poll = idle_poll
        self._max_backoff = max_backoff
        self._stop_grace = stop_grace
        self._tasks: set[asyncio.Task[None]] = set()
        # Chats handed over by `submit` while a scan's query was in flight: that scan's
        # rows for them may already be sent by the time it reads them.
        self._submitted_during_scan: set[int] | None = None
        # Chats that may have rows no one will hand over: passed over by a scan or a
        # submit while being sent to. Looked at again when that sending ends.
        self._recheck: set[int] = set()
        # The last scan saw only part of the pending rows: scan again as sends finish.
        self._backlog = False
        self._closed = False

    def wake(self) -> None:
        self._wake.set()

    def submit(self, items: Sequence[Queued]) -> None:
        """Send rows just queued, in order; the caller checked nothing older is pending
        for their chat. A chat already being sent to leaves them to the next scan."""
        if not items or self._closed:
            return  # a stopped dispatcher leaves them pending for the next start
        chat_id = items[0].chat_id
        if chat_id in self._busy:
            self._recheck.add(chat_id)
            return
        if self._submitted_during_scan is not None:
            self._submitted_during_scan.add(chat_id)
        self._start(chat_id, items)

    def _start(self, chat_id: int, items: Sequence[Queued]) -> None:
        self._busy.add(chat_id)
        task = asyncio.create_task(self._deliver(chat_id, items))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self, stop: asyncio.Event) -> None:
        log.info("outbox.started", channel=self._channel)
        while not stop.is_set():
            try:
                next_due = await self._dispatch_due()
            except Exception as error:  # database away: keep the loop alive and retry
                log.warning("outbox.poll_failed", channel=self._channel, error=repr(error))
                next_due = None
            timeout = self._idle_poll
            if next_due is not None:
                timeout = max(0.0, min(timeout, (next_due - utcnow()).total_seconds()))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    waiters = [asyncio.ensure_future(self._wake.wait())]
                    waiters.append(asyncio.ensure_future(stop.wait()))
                    try:
                        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        for waiter in waiters:
                            waiter.cancel()
            self._wake.clear()
        await self.aclose(grace=self._stop_grace)

    async def aclose(self, grace: float = 0.0) -> None:
        self._closed = True
        # On a graceful stop, a send already on the wire is let finish and recorded:
        # cancelled after Telegram took it, it would go out again after a restart.
        # What still waits for a rate-limit slot after the grace has sent nothing yet:
        # cancelling it is harmless, the row stays pending.
        if grace > 0 and self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _dispatch_due(self) -> datetime | None:
        self._submitted_during_scan = submitted = set[int]()
        self._recheck |= self._busy  # the query leaves them out
        try:
            async with self._connect() as connection:
                heads, self._backlog = await outbox.heads_of_queues(
                    connection, self._channel, busy_chats=self._busy, limit=SCAN_LIMIT
                )
        finally:
            self._submitted_during_scan = None
        self._recheck |= submitted
        now = utcnow()
        waiting = [item for item in heads if item.next_attempt_at > now]
        for item in heads:
            chat_id = item.chat_id
            due = item.next_attempt_at <= now
            if due and chat_id not in self._busy and chat_id not in submitted:
                self._start(chat_id, [item])
        return outbox.earliest(waiting)

    async def _deliver(self, chat_id: int, items: Sequence[Queued]) -> None:
        delivered = 0
        try:
            async with self._slots:
                for item in items:
                    if not await self._deliver_one(item):
                        break  # the rest wait behind it, for a scan
                    delivered += 1
        finally:
            self._busy.discard(chat_id)
            # A scan is needed only for what no one handed over; not after each send.
            if delivered < len(items) or chat_id in self._recheck or self._backlog:
                self._recheck.discard(chat_id)
                self._wake.set()

    async def _deliver_one(self, item: Queued) -> bool:
        """Send one row and record the outcome; False when it was not sent."""
        try:
            external_id = await self._send(item)
        except RetryLater as error:
            delay = min(max(error.after, 0.5 * 2**item.attempts), self._max_backoff)
            log.warning(
                "outbox.retry",
                outbox_id=item.id,
                chat_id=item.chat_id,
                attempts=item.attempts + 1,
                delay=delay,
                error=str(error),
            )
            async with self._connect() as connection:
                await outbox.reschedule(connection, item.id, delay, str(error))
            return False
        except Undeliverable as error:
            log.error(
                "outbox.undeliverable", outbox_id=item.id, chat_id=item.chat_id, error=str(error)
            )
            async with self._connect() as connection:
                await outbox.mark_failed(connection, item.id, str(error))
            return False
        async with self._connect() as connection:
            await outbox.mark_sent(connection, item.id, external_id)
        return True


class TelegramOutlet:
    """Renders Markdown as Telegram HTML parts and sends rows from the outbox."""

    def __init__(self, client: TelegramClient) -> None:
        self._client = client

    def render(self, markdown: str) -> list[str]:
        return split_message(markdown_to_telegram_html(markdown))

    async def typing(self, chat_id: int) -> None:
        await self._client.send_typing(chat_id)

    async def send(self, item: Queued, *, ready: Ready | None = None) -> int | None:
        # A refusal by `ready` (Undeliverable) passes through as it is: never retried.
        try:
            return await self._client.send_message(
                item.chat_id, item.body, reply_markup=item.reply_markup, ready=ready
            )
        except TelegramRetryLater as error:
            raise RetryLater(error.retry_after, str(error)) from error
        except TelegramRejected as error:
            raise Undeliverable(str(error)) from error
