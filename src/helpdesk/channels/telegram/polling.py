"""Long polling: receive updates in order and confirm each only once it is stored.

Telegram forgets an update once getUpdates is called with a higher offset, so the
offset moves past an update only after `handle` returned: a crash mid-batch means
the rest is delivered again (the store is idempotent on update_id), never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from helpdesk.channels.telegram.client import TelegramClient, TelegramRetryLater

log = structlog.get_logger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None]]


class _Backoff:
    """Exponential backoff with jitter, capped; reset after a success."""

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial = initial
        self.maximum = maximum
        self.failures = 0

    def next(self, at_least: float = 0.0) -> float:
        delay = min(self.maximum, self.initial * 2.0**self.failures)
        self.failures += 1
        # Jitter keeps several instances from retrying in lockstep.
        return max(at_least, delay * random.uniform(0.8, 1.0))

    def reset(self) -> None:
        self.failures = 0


async def _sleep_or_stop(delay: float, stop: asyncio.Event) -> bool:
    """Sleep `delay` s; True if `stop` was set meanwhile (then return at once)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=delay)
    return stop.is_set()


async def poll_updates(
    client: TelegramClient,
    handle: Handler,
    *,
    offset: int | None,
    timeout: int,
    stop: asyncio.Event,
    backoff_initial: float = 1.0,
    backoff_max: float = 30.0,
) -> None:
    """Feed every update to `handle`, in order, until `stop` is set.

    Transient failures (network, 5xx, 429) back off exponentially and go on; a
    failing `handle` is retried on the same update, which is never skipped.
    """
    backoff = _Backoff(backoff_initial, backoff_max)
    log.info("telegram.polling_started", offset=offset, timeout=timeout)
    while not stop.is_set():
        try:
            updates = await _get_or_stop(client, offset, timeout, stop)
        except TelegramRetryLater as exc:
            delay = backoff.next(at_least=exc.retry_after if exc.rate_limited else 0.0)
            log.warning("telegram.poll_retry", error=exc.description, delay=round(delay, 2))
            if await _sleep_or_stop(delay, stop):
                break
            continue
        except Exception as exc:  # TelegramRejected (e.g. 404 on a bad base URL) or a bug
            # A poller must outlive bugs and odd answers: log loudly and keep going.
            delay = backoff.next()
            log.error("telegram.poll_failed", error=repr(exc), delay=round(delay, 2))
            if await _sleep_or_stop(delay, stop):
                break
            continue
        if updates is None:
            break
        backoff.reset()
        for payload in updates:
            if not await _handle_until_done(handle, payload, stop, backoff_initial, backoff_max):
                log.info("telegram.polling_stopped", offset=offset)
                return
            update_id = payload.get("update_id") if isinstance(payload, dict) else None
            if isinstance(update_id, int) and not isinstance(update_id, bool):
                offset = max(offset or 0, update_id + 1)
            if stop.is_set():
                break
    log.info("telegram.polling_stopped", offset=offset)


async def _get_or_stop(
    client: TelegramClient, offset: int | None, timeout: int, stop: asyncio.Event
) -> list[dict[str, Any]] | None:
    """getUpdates, abandoned as soon as `stop` is set (None): a long poll may last minutes."""
    request = asyncio.ensure_future(client.get_updates(offset, timeout))
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({request, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (request, stopped):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    if stop.is_set():
        # Anything fetched but not handled stays unconfirmed and comes back next time.
        if request.done() and not request.cancelled():
            request.exception()  # retrieved, so asyncio does not warn about it
        return None
    return request.result()


async def _handle_until_done(
    handle: Handler,
    payload: dict[str, Any],
    stop: asyncio.Event,
    backoff_initial: float,
    backoff_max: float,
) -> bool:
    """Run `handle` until it succeeds; False if stopped first (the update stays unconfirmed)."""
    backoff = _Backoff(min(backoff_initial, 0.5), backoff_max)
    while True:
        try:
            await handle(payload)
            return True
        except Exception:
            delay = backoff.next()
            log.exception(
                "telegram.handle_failed",
                update_id=payload.get("update_id") if isinstance(payload, dict) else None,
                attempt=backoff.failures,
                delay=round(delay, 2),
            )
            if await _sleep_or_stop(delay, stop):
                return False
