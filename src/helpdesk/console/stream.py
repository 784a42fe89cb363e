"""Server-sent events for the console's live views (/console/events).

The stream only says *that* something changed ({"type", "conversation_id", ...});
console.js then re-fetches the page it shows and swaps in what is new, so pages are
rendered in one place and nothing leaks to the browser that the page would not show.

A stream ends when the client goes away, when the service stops, or after
MAX_STREAM_SECONDS. That last limit matters: uvicorn waits for open responses to
finish *before* it runs the lifespan shutdown that sets `runtime.stop`, so a stream
that waited only for `stop` would hold up every shutdown for as long as an agent
keeps a tab open. EventSource reconnects by itself (after RETRY_MS), and console.js
refreshes the page on every reconnect, so nothing published in between is lost.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from helpdesk.console.auth import runtime_of, signed_in
from helpdesk.console.render import ConsoleRoute
from helpdesk.handoff.events import EventBus

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

HEARTBEAT_SECONDS = 15.0
MAX_STREAM_SECONDS = 60.0
RETRY_MS = 1000
# What the browser needs to decide whether to refresh; message texts stay server-side.
FIELDS = ("type", "conversation_id", "state", "previous", "author")


@router.get("/console/events")
async def events(request: Request) -> Response:
    # 401, not a login redirect: EventSource would retry a redirect to HTML forever.
    if await signed_in(request) is None:
        return Response("log in first", status_code=401, media_type="text/plain")
    runtime = runtime_of(request)
    return StreamingResponse(
        event_stream(runtime.events, runtime.stop),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def encode(event: dict[str, Any]) -> str:
    payload = {key: event[key] for key in FIELDS if key in event}
    return f"event: {payload.get('type', 'message')}\ndata: {json.dumps(payload)}\n\n"


async def event_stream(
    bus: EventBus,
    stop: asyncio.Event,
    *,
    heartbeat: float | None = None,
    lifetime: float | None = None,
) -> AsyncIterator[str]:
    # Read at call time (not as defaults) so tests can shorten them on the module.
    heartbeat = HEARTBEAT_SECONDS if heartbeat is None else heartbeat
    lifetime = MAX_STREAM_SECONDS if lifetime is None else lifetime
    loop = asyncio.get_running_loop()
    deadline = loop.time() + lifetime
    with bus.subscribe() as subscription:
        incoming = subscription.events
        # Subscribed before the first byte goes out: the client cannot miss an event
        # published while it was connecting.
        yield f"retry: {RETRY_MS}\n: connected\n\n"
        # One pending read survives heartbeats: cancelling it would close the generator.
        next_event: asyncio.Future[Any] = asyncio.ensure_future(anext(incoming))
        stopping: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
        try:
            while (remaining := deadline - loop.time()) > 0:
                done, _ = await asyncio.wait(
                    {next_event, stopping},
                    timeout=min(heartbeat, remaining),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if stopping in done:
                    return
                if next_event not in done:
                    yield ": heartbeat\n\n"
                    continue
                try:
                    event = next_event.result()
                except StopAsyncIteration:
                    # The bus dropped us for being too slow: end, and let the client
                    # reconnect and refresh. (A full queue cannot take the bus's end
                    # marker, so usually the lifetime limit is what ends such a stream.)
                    return
                yield encode(event)
                next_event = asyncio.ensure_future(anext(incoming))
        finally:
            next_event.cancel()
            stopping.cancel()
