"""`GET /api/events`: new messages and state changes, live, as server-sent events.

FastAPI's EventSourceResponse writes each item as a `data:` line of JSON and a
`: ping` comment after 15 s of silence, which keeps proxies from closing an idle
stream. The stream ends when the client goes away (the response is cancelled and
the subscription dropped), when the service stops (`runtime.stop`), or when the
event bus drops a subscriber too slow to keep up. Nothing is replayed: after
reconnecting, a client re-reads the conversations it shows; the "ready" event
marks the moment from which it will miss nothing.

Caveat: uvicorn runs the lifespan shutdown (which sets `runtime.stop`) only after
open connections have closed, so on its own it waits for event streams forever;
the server needs a `timeout_graceful_shutdown`, or `stop` set as shutdown begins.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from fastapi.sse import EventSourceResponse

from helpdesk.api.auth import CurrentAgent, RuntimeDep
from helpdesk.api.errors import UNAUTHORIZED, api_router
from helpdesk.api.schemas import ConsoleEvent

router = api_router(tags=["events"])


# The 401 is JSON, not a stream: say so, or the docs would inherit text/event-stream.
_UNAUTHORIZED_JSON: dict[int | str, dict[str, Any]] = {
    401: {
        "description": UNAUTHORIZED[401]["description"],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
}


@router.get("/events", response_class=EventSourceResponse, responses=_UNAUTHORIZED_JSON)
async def events(_agent: CurrentAgent, runtime: RuntimeDep) -> AsyncIterator[ConsoleEvent]:
    """Every agent sees every conversation's events, as the inbox shows every conversation."""
    with runtime.events.subscribe() as stream:
        yield ConsoleEvent(type="ready", at=datetime.now(UTC))
        async for event in until_set(stream, runtime.stop):
            yield ConsoleEvent.model_validate(event)


async def until_set(
    stream: AsyncIterator[dict[str, Any]], stop: asyncio.Event
) -> AsyncIterator[dict[str, Any]]:
    """The stream's items until it ends or `stop` is set, whichever comes first."""

    async def following() -> dict[str, Any] | None:
        try:
            return await anext(stream)
        except StopAsyncIteration:
            return None

    stopping = asyncio.create_task(stop.wait())
    waiting: asyncio.Task[dict[str, Any] | None] | None = None
    try:
        while not stop.is_set():
            waiting = asyncio.create_task(following())
            await asyncio.wait((waiting, stopping), return_when=asyncio.FIRST_COMPLETED)
            if not waiting.done() or (item := waiting.result()) is None:
                return
            waiting = None
            yield item
    finally:
        stopping.cancel()
        if waiting is not None:
            waiting.cancel()
