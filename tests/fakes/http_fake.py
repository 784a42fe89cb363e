"""What every fake HTTP service shares: a loopback server in the test's event loop.

    class FakeThing(HttpFake):
        def _routes(self, router: web.UrlDispatcher) -> None:
            router.add_post("/send", self._send)

    async with FakeThing() as fake:   # fake.base_url is live until the block ends

Real HTTP rather than transport mocks, so the production clients run unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web


@dataclass
class Waiters:
    """An event replaced at each change, so any number of waiters can wake."""

    event: asyncio.Event = field(default_factory=asyncio.Event)

    def notify(self) -> None:
        self.event.set()
        self.event = asyncio.Event()


class HttpFake:
    # Long polls and held answers must not hold shutdown for their whole duration.
    shutdown_timeout = 0.5
    # Appended to base_url, for APIs whose clients are configured with a versioned root.
    url_path = ""

    def __init__(self) -> None:
        self.base_url = ""
        self._recorded = Waiters()
        self._runner: web.AppRunner | None = None

    def _routes(self, router: web.UrlDispatcher) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        app = web.Application()
        self._routes(app.router)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=self.shutdown_timeout)
        await self._runner.setup()
        # Port 0: the OS picks a free port, so parallel test runs never collide.
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}{self.url_path}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _record(self, recording: list[Any], item: Any) -> None:
        """Append what the fake accepted and wake whoever waits in `_wait_for`."""
        recording.append(item)
        self._recorded.notify()

    async def _wait_for(
        self,
        count: int,
        found: Callable[[], list[dict[str, Any]]],
        *,
        timeout: float,
        what: str,
        shown: str,
    ) -> list[dict[str, Any]]:
        """Wait until `found()` has `count` items; return them. On timeout the error
        lists each item's `shown` field, which is usually enough to see what went wrong."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(items := found()) < count:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(
                    f"waited {timeout}s for {count} {what}, got {len(items)}: "
                    f"{[item.get(shown) for item in items]}"
                )
            try:
                await asyncio.wait_for(self._recorded.event.wait(), remaining)
            except TimeoutError:
                continue
        return items


def drop_connection(request: web.Request) -> web.Response:
    """Close the socket without an answer: what a client sees as a network error."""
    assert request.transport is not None
    request.transport.close()
    return web.Response()
