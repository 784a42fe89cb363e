"""Per-chat ordered, cross-chat concurrent processing of stored updates.

An in-process queue by default; a broker can replace it behind the same
`submit`/`drain` interface. Items are row ids of stored updates, so the queue
itself holds nothing that a restart could lose: pending rows are re-submitted
at start-up.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger(__name__)

Handler = Callable[[int], Awaitable[None]]
GiveUp = Callable[[int, BaseException], Awaitable[None]]


class ChatQueue:
    def __init__(
        self,
        handler: Handler,
        *,
        give_up: GiveUp | None = None,
        max_concurrency: int = 512,
        max_attempts: int = 6,
        base_backoff: float = 0.5,
    ) -> None:
        self._handler = handler
        self._give_up = give_up
        self._pending: dict[int, deque[int]] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(max_concurrency)
        self._max_attempts = max_attempts
        self._base_backoff = base_backoff
        self._idle = asyncio.Event()
        self._idle.set()

    def submit(self, chat_id: int, item: int) -> None:
        self._pending.setdefault(chat_id, deque()).append(item)
        if chat_id not in self._tasks:
            self._idle.clear()
            self._tasks[chat_id] = asyncio.create_task(self._drain_chat(chat_id))

    @property
    def active_chats(self) -> int:
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait until every submitted item has been handled."""
        await self._idle.wait()

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _drain_chat(self, chat_id: int) -> None:
        items = self._pending[chat_id]
        try:
            while items:
                item = items[0]
                async with self._slots:
                    await self._handle_with_retries(chat_id, item)
                items.popleft()
        finally:
            del self._pending[chat_id]
            del self._tasks[chat_id]
            if not self._tasks:
                self._idle.set()

    async def _handle_with_retries(self, chat_id: int, item: int) -> None:
        # The chat waits for its head item (a database restart, say) rather than
        # skipping ahead: a customer's messages are answered in the order sent.
        for attempt in range(1, self._max_attempts + 1):
            try:
                await self._handler(item)
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if attempt == self._max_attempts:
                    log.error("update.gave_up", chat_id=chat_id, item=item, error=repr(error))
                    if self._give_up is not None:
                        await self._give_up(item, error)
                    return
                delay = min(self._base_backoff * 2 ** (attempt - 1), 30.0)
                log.warning(
                    "update.retry", chat_id=chat_id, item=item, attempt=attempt, error=repr(error)
                )
                await asyncio.sleep(delay)
