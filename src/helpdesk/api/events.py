"""`GET /api/events`: new messages and state changes, live, as server-sent events.

FastAPI's EventSourceResponse writes each item as a `data:` line of JSON and a
`: ping` comment after 15 s of silence, which keeps proxies from closing an idle
stream. Every event carries an SSE `id:`; a client reconnecting with the
`Last-Event-ID` header first gets the events it missed (the service keeps the last
1000), then the live ones. The "ready" event comes first and says how many were
replayed, and `missed: true` when that was not possible (an id from before a restart,
or too old): the client should then re-read the conversations it shows.

The stream ends when the client goes away (the response is cancelled and the
subscription dropped), when the service stops (`runtime.stop`), or when the event
bus drops a subscriber too slow to keep up.

Caveat: uvicorn runs the lifespan shutdown (which sets `runtime.stop`) only after
open connections have closed, so on its own it waits for event streams forever;
the server needs a `timeout_graceful_shutdown`, or `stop` set as shutdown begins.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, cast

from fastapi import Header
from fastapi.sse import EventSourceResponse, ServerSentEvent

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
async def events(
    _agent: CurrentAgent,
    runtime: RuntimeDep,
    last_event_id: Annotated[
        str | None,
        Header(description="the id of the last event received, to get what came after it"),
    ] = None,
) -> AsyncIterator[ConsoleEvent]:
    """Every agent sees every conversation's events, as the inbox shows every conversation."""
    with runtime.events.subscribe(stop=runtime.stop, after=last_event_id) as subscription:
        ready = ConsoleEvent(
            type="ready",
            at=datetime.now(UTC),
            replayed=subscription.replayed,
            missed=subscription.missed,
        )
        yield ready
        async for event in subscription.events:
            # A ServerSentEvent sets the `id:` line, and FastAPI writes it as it is; the
            # docs still describe the items from the annotation above (ConsoleEvent).
            yield cast(ConsoleEvent, encoded(event))


# Every connected agent's stream writes the same event: encode it once, not per stream.
_encoded: OrderedDict[str, ServerSentEvent] = OrderedDict()
ENCODED_KEPT = 256


def encoded(event: dict[str, Any]) -> ServerSentEvent:
    key = str(event["id"])
    found = _encoded.get(key)
    if found is None:
        data = ConsoleEvent.model_validate(event).model_dump_json()
        found = _encoded[key] = ServerSentEvent(raw_data=data, id=key)
        if len(_encoded) > ENCODED_KEPT:
            _encoded.popitem(last=False)
    return found
