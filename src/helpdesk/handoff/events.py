"""In-process fan-out of conversation events to connected agents (SSE).

Every event gets an id, `<boot>-<seq>`: `seq` counts up within this process and `boot`
tells processes apart, so an id from before a restart is recognised as such. The
last `replay_size` events are kept, so a client that reconnects with the last id it
saw (SSE's Last-Event-ID) gets what it missed; when that is no longer possible (an
id too old, or from another process) the subscription says so (`Subscription.missed`)
and the client re-reads what it shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

log = structlog.get_logger(__name__)


@dataclass
class Subscription:
    events: AsyncIterator[dict[str, Any]]
    replayed: int = 0
    # True when events after `after` may be lost: the client must re-read its views.
    missed: bool = False


class EventBus:
    """Publish never blocks: a subscriber too slow to keep up loses its stream, not others."""

    def __init__(self, queue_size: int = 1000, replay_size: int = 1000) -> None:
        self._subscribers: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self._queue_size = queue_size
        self._recent: deque[tuple[int, dict[str, Any]]] = deque(maxlen=replay_size)
        self._seq = 0
        self.boot = secrets.token_hex(4)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def publish(self, kind: str, **data: Any) -> None:
        self._seq += 1
        event = {
            "type": kind,
            "at": datetime.now(UTC).isoformat(),
            **data,
            "id": f"{self.boot}-{self._seq}",
        }
        self._recent.append((self._seq, event))
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                log.warning("events.subscriber_dropped", kind=kind)
                self._subscribers.discard(queue)
                _end(queue)

    def _replay(self, after: str) -> tuple[list[dict[str, Any]], bool]:
        """The kept events after id `after`, and whether some may be missing."""
        boot, _, seq_text = after.partition("-")
        if boot != self.boot or not seq_text.isdigit() or int(seq_text) > self._seq:
            return [], True
        seq = int(seq_text)
        oldest = self._recent[0][0] if self._recent else self._seq + 1
        return [event for n, event in self._recent if n > seq], seq + 1 < oldest

    @contextlib.contextmanager
    def subscribe(
        self, *, stop: asyncio.Event | None = None, after: str | None = None
    ) -> Iterator[Subscription]:
        """Events from now on (after `after`, if given), until `stop` is set.

        Registering and replaying happen in one step of the event loop, and `publish`
        is synchronous, so nothing falls between the replayed events and the live ones.
        """
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(self._queue_size)
        replay, missed = self._replay(after) if after else ([], False)
        for event in replay[-self._queue_size :]:
            queue.put_nowait(event)
        missed |= len(replay) > self._queue_size
        self._subscribers.add(queue)
        # One waiter per subscription ends the stream on `stop`; no task per event.
        watcher: asyncio.Future[Any] | None = None
        if stop is not None:
            watcher = asyncio.ensure_future(stop.wait())
            watcher.add_done_callback(lambda _: _end(queue))

        async def stream() -> AsyncIterator[dict[str, Any]]:
            while (event := await queue.get()) is not None:
                yield event

        try:
            yield Subscription(stream(), replayed=min(len(replay), self._queue_size), missed=missed)
        finally:
            self._subscribers.discard(queue)
            if watcher is not None:
                watcher.cancel()


def _end(queue: asyncio.Queue[dict[str, Any] | None]) -> None:
    """Put the end marker, making room for it if need be: a stream must end, not hang."""
    while True:
        try:
            queue.put_nowait(None)
            return
        except asyncio.QueueFull:
            with contextlib.suppress(asyncio.QueueEmpty):
                queue.get_nowait()
