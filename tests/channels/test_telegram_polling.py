"""Long polling never loses or reorders an update, survives failures, and stops promptly."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any

from helpdesk.channels.telegram import TelegramClient, poll_updates
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.telegram_updates import tg_text_update

Handle = Callable[[dict[str, Any]], Awaitable[None]]


def offsets_sent(fake: FakeTelegram) -> list[int | None]:
    return [call.params.get("offset") for call in fake.calls_to("getUpdates")]


async def run_until(
    client: TelegramClient,
    handle: Handle,
    stop: asyncio.Event,
    *,
    offset: int | None = None,
    timeout: int = 1,
    limit: float = 5.0,
) -> None:
    await asyncio.wait_for(
        poll_updates(
            client, handle, offset=offset, timeout=timeout, stop=stop, backoff_initial=0.05
        ),
        limit,
    )


async def test_updates_are_handled_in_order_and_confirmed_after_handling(
    fake_tg: FakeTelegram, tg_client: TelegramClient
) -> None:
    for update_id in (10, 11, 12):
        fake_tg.push_update(tg_text_update(update_id, 501, f"message {update_id}"))
    handled: list[int] = []
    stop = asyncio.Event()

    async def handle(update: dict[str, Any]) -> None:
        # While an update is being handled, Telegram has not been told it is done.
        assert update["update_id"] in [u["update_id"] for u in fake_tg.pending_updates]
        handled.append(update["update_id"])
        if update["update_id"] == 14:
            stop.set()

    async def later() -> None:
        await asyncio.sleep(0.2)
        fake_tg.push_update(tg_text_update(13, 501, "a bit later"))
        fake_tg.push_update(tg_text_update(14, 501, "and more"))

    pusher = asyncio.create_task(later())
    await run_until(tg_client, handle, stop)
    await pusher
    assert handled == [10, 11, 12, 13, 14]
    assert offsets_sent(fake_tg)[:2] == [None, 13]
    assert fake_tg.spec_violations == []


async def test_a_failing_handler_retries_the_same_update_and_never_skips_it(
    fake_tg: FakeTelegram, tg_client: TelegramClient
) -> None:
    for update_id in (1, 2, 3):
        fake_tg.push_update(tg_text_update(update_id, 501, "hi"))
    attempts: list[int] = []
    stop = asyncio.Event()

    async def handle(update: dict[str, Any]) -> None:
        attempts.append(update["update_id"])
        if update["update_id"] == 2 and attempts.count(2) < 3:
            raise RuntimeError("database is down")
        if update["update_id"] == 3:
            stop.set()

    await run_until(tg_client, handle, stop)
    assert attempts == [1, 2, 2, 2, 3]
    # One batch: the offset never moved past update 2 while it was failing.
    assert offsets_sent(fake_tg) == [None]


async def test_stopping_does_not_wait_for_the_long_poll(
    fake_tg: FakeTelegram, tg_client: TelegramClient
) -> None:
    stop = asyncio.Event()

    async def handle(update: dict[str, Any]) -> None:
        raise AssertionError("no update was pushed")

    task = asyncio.create_task(run_until(tg_client, handle, stop, timeout=25, limit=30))
    await asyncio.sleep(0.2)  # the long poll is now pending on the server
    assert len(fake_tg.calls_to("getUpdates")) == 1
    started = time.monotonic()
    stop.set()
    await task
    assert time.monotonic() - started < 0.5


async def test_stopping_during_a_handler_retry_leaves_the_update_unconfirmed(
    fake_tg: FakeTelegram, tg_client: TelegramClient
) -> None:
    fake_tg.push_update(tg_text_update(1, 501, "hi"))
    stop = asyncio.Event()

    async def handle(update: dict[str, Any]) -> None:
        stop.set()
        raise RuntimeError("still broken")

    started = time.monotonic()
    await run_until(tg_client, handle, stop)
    assert time.monotonic() - started < 0.5
    assert [u["update_id"] for u in fake_tg.pending_updates] == [1]


async def test_transient_errors_back_off_and_polling_goes_on(
    fake_tg: FakeTelegram, tg_client: TelegramClient
) -> None:
    fake_tg.fail_next("getUpdates", status=502, times=2)
    fake_tg.fail_next("getUpdates", status=0)  # connection dropped
    fake_tg.push_update(tg_text_update(1, 501, "hi"))
    stop = asyncio.Event()

    async def handle(update: dict[str, Any]) -> None:
        stop.set()

    await run_until(tg_client, handle, stop)
    calls = fake_tg.calls_to("getUpdates")
    assert [c.status for c in calls] == [502, 502, 0, 200]
    gaps = [b.at - a.at for a, b in itertools.pairwise(calls)]
    assert gaps[0] >= 0.03 and gaps[1] > gaps[0] * 1.2  # exponential


async def test_429_waits_for_retry_after(fake_tg: FakeTelegram, tg_client: TelegramClient) -> None:
    fake_tg.fail_next("getUpdates", status=429, retry_after=1)
    fake_tg.push_update(tg_text_update(1, 501, "hi"))
    stop = asyncio.Event()

    async def handle(update: dict[str, Any]) -> None:
        stop.set()

    await run_until(tg_client, handle, stop)
    first, second = fake_tg.calls_to("getUpdates")
    assert second.at - first.at >= 1.0


async def test_restart_from_the_stored_offset_gets_the_rest(
    fake_tg: FakeTelegram, tg_client: TelegramClient
) -> None:
    for update_id in (1, 2, 3):
        fake_tg.push_update(tg_text_update(update_id, 501, "hi"))
    handled: list[int] = []
    stop = asyncio.Event()

    async def handle(update: dict[str, Any]) -> None:
        handled.append(update["update_id"])
        stop.set()  # "crash" right after storing the first update

    await run_until(tg_client, handle, stop)
    assert handled == [1]
    stop = asyncio.Event()

    async def handle_rest(update: dict[str, Any]) -> None:
        handled.append(update["update_id"])
        if update["update_id"] == 3:
            stop.set()

    await run_until(tg_client, handle_rest, stop, offset=2)
    assert handled == [1, 2, 3]
