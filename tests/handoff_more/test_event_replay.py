"""GET /api/events after a reconnect: Last-Event-ID brings back what was missed."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.fakes.telegram_server import FakeTelegram
from tests.handoff_more.conftest import Api, StartConsole, escalated, signed_in


async def read_events(api: Api, count: int, last_event_id: str | None = None) -> list[Any]:
    """The first `count` events (ready included) with their SSE ids, then disconnect."""
    headers = dict(api.headers)
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    found: list[tuple[str | None, dict[str, Any]]] = []
    event_id: str | None = None
    data: str | None = None
    async with asyncio.timeout(10):
        async with api.service.http.stream("GET", api.url("/events"), headers=headers) as r:
            assert r.status_code == 200
            async for line in r.aiter_lines():
                if line.startswith("id: "):
                    event_id = line.removeprefix("id: ")
                elif line.startswith("data: "):
                    data = line.removeprefix("data: ")
                elif not line and data is not None:  # a blank line ends an event
                    found.append((event_id, json.loads(data)))
                    event_id = data = None
                    if len(found) == count:
                        break
    return found


async def test_a_reconnecting_client_gets_the_events_it_missed_in_order(
    database_url: str, start_console: StartConsole, telegram: FakeTelegram
) -> None:
    service = await start_console(database_url)
    alice = await signed_in(service, "alice@example.test")
    conversation_id = await escalated(service, telegram, 951)
    path = f"/conversations/{conversation_id}"

    # Connected: the claim arrives with an id.
    async def claim_soon() -> None:
        await asyncio.sleep(0.2)
        assert (await alice.post(f"{path}/assign")).status_code == 200

    claiming = asyncio.create_task(claim_soon())
    [(_, ready), (seen_id, claimed)] = await read_events(alice, 2)
    await claiming
    assert (ready["type"], ready["replayed"], ready["missed"]) == ("ready", 0, False)
    assert claimed["type"] == "state" and claimed["state"] == "human"
    assert seen_id is not None and claimed["id"] == seen_id

    # Away: a reply and a note happen meanwhile.
    assert (await alice.post(f"{path}/messages", {"text": "On it."})).status_code == 201
    assert (await alice.post(f"{path}/notes", {"text": "VIP"})).status_code == 201

    [(_, ready), (_, message), (last_id, note)] = await read_events(alice, 3, seen_id)
    assert (ready["replayed"], ready["missed"]) == (2, False)
    assert (message["type"], message["text"], message["author"]) == ("message", "On it.", "agent")
    assert note["type"] == "note" and note["conversation_id"] == conversation_id

    # Up to date: nothing to replay; live events follow.
    [(_, ready)] = await read_events(alice, 1, last_id)
    assert (ready["replayed"], ready["missed"]) == (0, False)

    # An id from another process (before a restart) cannot be replayed: re-read.
    [(_, ready)] = await read_events(alice, 1, "0badb00t-3")
    assert (ready["replayed"], ready["missed"]) == (0, True)
