"""In-process fan-out of conversation events to connected agents (SSE)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import structlog

log = structlog.get_logger(__name__)


class EventBus:
    """Publish never blocks: a subscriber too slow to keep up loses its stream, not others."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._subscribers: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self._queue_size = queue_size

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def publish(self, kind: str, **data: Any) -> None:
        event = {"type": kind, "at": datetime.now(UTC).isoformat(), **data}
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                log.warning("events.subscriber_dropped", kind=kind)
                self._subscribers.discard(queue)
                # Make room for the end marker: the stream must end, not hang silent.
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                queue.put_nowait(None)

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[AsyncIterator[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(self._queue_size)
        self._subscribers.add(queue)

        async def stream() -> AsyncIterator[dict[str, Any]]:
            while (event := await queue.get()) is not None:
                yield event

        try:
            yield stream()
        finally:
            self._subscribers.discard(queue)
