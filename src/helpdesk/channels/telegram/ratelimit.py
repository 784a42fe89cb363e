"""Pace outgoing messages to Telegram's published limits, before it answers 429.

Telegram's guidance: about 30 messages per second across all chats, about one per
second in a single chat (short bursts tolerated), 20 per minute in a group.
Both limits are GCRA (a token bucket expressed as one timestamp): O(1) per call,
FIFO, and an idle chat's state decays to "fresh", so it can be dropped.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


def _interval(rate: float) -> float:
    """Seconds between messages; 0 means unlimited (rate <= 0 or infinite)."""
    if rate <= 0 or math.isinf(rate) or math.isnan(rate):
        return 0.0
    return 1.0 / rate


@dataclass(slots=True)
class _ChatState:
    tat: float = 0.0  # theoretical arrival time of the next message (GCRA)
    pending: int = 0  # callers holding or waiting for the lock: not evictable
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class RateLimiter:
    """Bot-wide and per-chat pacing: `await limiter.acquire(chat_id)` before each send.

    - `rate`/`burst`: bot-wide messages per second and how many may go back to back.
    - `chat_rate`/`chat_burst`: the same for one private chat. The default burst of 3
      lets a long answer split into 3 messages arrive together, then 1/s.
    - `group_rate`: for group chats (negative ids), Telegram allows 20 per minute.
    """

    def __init__(
        self,
        rate: float = 30.0,
        chat_rate: float = 1.0,
        *,
        burst: int = 3,
        chat_burst: int = 3,
        group_rate: float = 20 / 60,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._interval = _interval(rate)
        self._tolerance = self._interval * (max(burst, 1) - 1)
        self._chat_interval = _interval(chat_rate)
        # A group never gets faster than a private chat would.
        self._group_interval = max(_interval(group_rate), self._chat_interval)
        self._chat_burst = max(chat_burst, 1)
        self._clock = clock
        self._sleep = sleep
        self._tat = 0.0
        self._chats: OrderedDict[int, _ChatState] = OrderedDict()

    @property
    def tracked_chats(self) -> int:
        return len(self._chats)

    async def acquire(self, chat_id: int) -> None:
        """Wait until a message to `chat_id` may be sent under both limits."""
        interval = self._group_interval if chat_id < 0 else self._chat_interval
        if not interval:
            await self._acquire_global()
            return
        self._evict_idle()
        state = self._chats.get(chat_id)
        if state is None:
            state = self._chats[chat_id] = _ChatState()
        self._chats.move_to_end(chat_id)
        state.pending += 1
        try:
            # One caller per chat at a time keeps the chat's messages in order and lets
            # its timestamp reflect when a message really left, after the global wait.
            async with state.lock:
                tolerance = interval * (self._chat_burst - 1)
                await self._wait_until(state.tat - tolerance)
                await self._acquire_global()
                state.tat = max(state.tat, self._clock()) + interval
        finally:
            state.pending -= 1

    async def _acquire_global(self) -> None:
        if not self._interval:
            return
        # Reserve the slot synchronously (no await in between), then wait for it:
        # concurrent callers get distinct, ordered slots without a lock.
        now = self._clock()
        tat = max(self._tat, now)
        self._tat = tat + self._interval
        await self._wait_until(tat - self._tolerance)

    async def _wait_until(self, moment: float) -> None:
        delay = moment - self._clock()
        if delay > 0:
            await self._sleep(delay)

    def _evict_idle(self) -> None:
        """Drop chats whose state has fully decayed, oldest first: amortised O(1)."""
        now = self._clock()
        while self._chats:
            chat_id, state = next(iter(self._chats.items()))
            if state.pending or state.tat > now:
                return
            del self._chats[chat_id]
