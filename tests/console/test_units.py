"""The console's small pure parts: the event stream, CSRF tokens, cookies, redirects."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

from fastapi import Request, Response

from helpdesk.console.auth import csrf_token, safe_next, set_session_cookie
from helpdesk.console.render import duration, web_url
from helpdesk.console.stream import event_stream
from helpdesk.handoff.events import EventBus


async def test_stream_sends_events_and_heartbeats_and_ends_on_stop() -> None:
    bus, stop = EventBus(), asyncio.Event()
    stream = event_stream(bus, stop, heartbeat=0.05, lifetime=30)
    assert (await anext(stream)).startswith("retry: ")
    assert bus.subscriber_count == 1
    assert await anext(stream) == ": heartbeat\n\n"

    bus.publish("state", conversation_id=4, state="waiting", text="secret")
    event = await anext(stream)
    kind, data = event.strip().split("\n")
    assert kind == "event: state"
    payload = json.loads(data.removeprefix("data: "))
    assert payload["conversation_id"] == 4 and payload["state"] == "waiting"
    assert "text" not in payload, "message texts stay on the server"

    stop.set()
    async with asyncio.timeout(2):
        assert [chunk async for chunk in stream] == []
    assert bus.subscriber_count == 0


async def test_stream_ends_after_its_lifetime_and_when_dropped_as_too_slow() -> None:
    bus = EventBus(queue_size=1)
    async with asyncio.timeout(2):
        chunks = [c async for c in event_stream(bus, asyncio.Event(), lifetime=0.1)]
    assert chunks[0].startswith("retry: ") and bus.subscriber_count == 0

    slow = event_stream(bus, asyncio.Event(), heartbeat=0.05, lifetime=30)
    await anext(slow)
    for n in range(3):
        bus.publish("message", conversation_id=n)
    assert bus.subscriber_count == 0, "the bus drops a subscriber that cannot keep up"
    # Dropped, the stream ends at once (long before its lifetime): the browser
    # reconnects and refreshes the page rather than missing events silently.
    async with asyncio.timeout(2):
        rest = [c async for c in slow]
    assert [c for c in rest if c.startswith("event:")] == []


def test_csrf_token_is_bound_to_the_session() -> None:
    token = "session-token-value"
    assert csrf_token(token) == csrf_token(token)
    assert csrf_token(token) != csrf_token(token + "x")
    assert token not in csrf_token(token) and len(csrf_token(token)) == 64


def test_secure_cookie_when_the_public_url_is_https() -> None:
    settings = SimpleNamespace(public_url="https://helpdesk.example.test")
    app = SimpleNamespace(state=SimpleNamespace(runtime=SimpleNamespace(settings=settings)))
    response = Response()
    set_session_cookie(Request({"type": "http", "app": app}), response, "tok")
    cookie = response.headers["set-cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie


def test_after_login_only_console_paths_are_followed() -> None:
    assert safe_next("/console/conversations/3") == "/console/conversations/3"
    assert safe_next("/console?tab=mine") == "/console?tab=mine"
    for hostile in ("https://evil.test/", "//evil.test", "/console/../x", "/consolex", None):
        assert safe_next(hostile) == "/console"


def test_waiting_times_and_links_read_well() -> None:
    assert [duration(s) for s in (5, 125, 3720, 90000)] == [
        "just now",
        "2 min",
        "1 h 02 min",
        "1 d 1 h",
    ]
    assert web_url("https://help.example/a") == "https://help.example/a"
    assert web_url("javascript:alert(1)") is None
