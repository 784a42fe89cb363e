"""The limiter keeps to Telegram's pace: ~30/s per bot, ~1/s per chat, 20/min per group."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections.abc import Coroutine
from typing import Any

import pytest

from helpdesk.channels.telegram import RateLimiter


class VirtualTime:
    """A clock that jumps to the next wake-up whenever every task is waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps = 0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps += 1
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + delay, next(self._seq), future))
        await future

    async def run(self, *coros: Coroutine[Any, Any, Any]) -> None:
        tasks = [asyncio.ensure_future(c) for c in coros]
        while not all(t.done() for t in tasks):
            for _ in range(10):  # let every runnable task reach its next sleep
                await asyncio.sleep(0)
            if self._sleepers:
                wake = self._sleepers[0][0]
                self.now = max(self.now, wake)
                while self._sleepers and self._sleepers[0][0] <= wake:
                    heapq.heappop(self._sleepers)[2].set_result(None)
        await asyncio.gather(*tasks)

    def limiter(self, *args: Any, **kwargs: Any) -> RateLimiter:
        return RateLimiter(*args, clock=self.clock, sleep=self.sleep, **kwargs)


async def send_times(vt: VirtualTime, limiter: RateLimiter, chats: list[int]) -> list[float]:
    """Acquire once per entry (all at t=0, concurrently); when each was let through."""
    times: list[float] = [math.nan] * len(chats)

    async def one(i: int, chat_id: int) -> None:
        await limiter.acquire(chat_id)
        times[i] = vt.now

    await vt.run(*(one(i, c) for i, c in enumerate(chats)))
    return times


def max_in_window(times: list[float], window: float) -> int:
    ordered = sorted(times)
    return max(sum(1 for t in ordered if start <= t < start + window - 1e-9) for start in ordered)


async def test_bot_wide_limit_is_30_per_second_across_chats() -> None:
    vt = VirtualTime()
    times = await send_times(vt, vt.limiter(30, 1), list(range(1, 121)))
    # A burst of 3, then one every 1/30 s: never more than 32 in any second.
    assert max_in_window(times, 1.0) <= 32
    assert max_in_window([t for t in times if t >= 1.0], 1.0) <= 30
    assert max(times) == pytest.approx((120 - 3) / 30)


async def test_one_chat_gets_one_message_per_second_after_a_small_burst() -> None:
    vt = VirtualTime()
    times = await send_times(vt, vt.limiter(30, 1), [7] * 6 + [8] * 2)
    assert times[:6] == pytest.approx([0, 0, 0, 1, 2, 3], abs=0.05)
    # Another chat is not held up by chat 7's queue.
    assert times[6:] == pytest.approx([0, 0], abs=0.1)


async def test_without_burst_a_chat_is_strictly_one_per_second() -> None:
    vt = VirtualTime()
    times = await send_times(vt, vt.limiter(30, 1, chat_burst=1), [7] * 4)
    assert times == pytest.approx([0, 1, 2, 3], abs=0.05)


async def test_groups_get_twenty_per_minute() -> None:
    vt = VirtualTime()
    times = await send_times(vt, vt.limiter(30, 1, chat_burst=1), [-100123] * 3)
    assert times == pytest.approx([0, 3, 6], abs=0.05)


async def test_a_chat_is_served_in_arrival_order() -> None:
    vt = VirtualTime()
    limiter = vt.limiter(30, 1, chat_burst=1)
    order: list[int] = []

    async def one(i: int) -> None:
        await limiter.acquire(7)
        order.append(i)

    await vt.run(*(one(i) for i in range(10)))
    assert order == list(range(10))


@pytest.mark.parametrize(("rate", "chat_rate"), [(0, 0), (math.inf, math.inf), (-1, 0)])
async def test_zero_or_infinite_rate_means_unlimited(rate: float, chat_rate: float) -> None:
    vt = VirtualTime()
    limiter = vt.limiter(rate, chat_rate)
    times = await send_times(vt, limiter, [1] * 50 + list(range(2, 52)))
    assert set(times) == {0.0} and vt.sleeps == 0
    assert limiter.tracked_chats == 0


async def test_idle_chats_are_forgotten() -> None:
    vt = VirtualTime()
    limiter = vt.limiter(0, 1)
    for chat_id in range(10_000):
        await limiter.acquire(chat_id)
    assert limiter.tracked_chats == 10_000
    vt.now += 5  # every chat's state has decayed
    await limiter.acquire(10_001)
    assert limiter.tracked_chats == 1


async def test_a_cancelled_waiter_does_not_block_the_chat() -> None:
    limiter = RateLimiter(0, 10, chat_burst=1)
    await limiter.acquire(7)
    waiter = asyncio.create_task(limiter.acquire(7))
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await asyncio.wait_for(limiter.acquire(7), timeout=0.5)


async def test_real_time_pacing_over_a_short_window() -> None:
    # Same logic on the real clock, scaled up so it takes well under a second.
    limiter = RateLimiter(200, 20, burst=1, chat_burst=1)
    started = time.monotonic()
    stamps: dict[int, list[float]] = {1: [], 2: []}

    async def one(chat_id: int) -> None:
        await limiter.acquire(chat_id)
        stamps[chat_id].append(time.monotonic() - started)

    await asyncio.gather(*(one(1 + i % 2) for i in range(12)))
    for chat_times in stamps.values():
        gaps = [b - a for a, b in itertools.pairwise(chat_times)]
        assert min(gaps) >= 0.045  # 20/s per chat
    assert 0.2 <= time.monotonic() - started < 1.5

    limiter = RateLimiter(200, 1, burst=1)
    started = time.monotonic()
    await asyncio.gather(*(limiter.acquire(chat_id) for chat_id in range(100, 160)))
    assert 0.28 <= time.monotonic() - started < 1.5  # 60 chats at 200/s
