"""GET /api/analytics/summary and /api/analytics/export over real HTTP; the export streams."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
from datetime import timedelta

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.analytics.export import ExportFormat, stream_export
from helpdesk.analytics.metrics import Period
from helpdesk.store.models import Message
from tests.analytics.history import Builder, at, build_week
from tests.api.conftest import Api, signed_in
from tests.e2e.conftest import StartService
from tests.fakes.telegram_server import FakeTelegram

PRIVATE = "card 4111 1111 1111 1111, mail ada@example.com, call +44 20 7946 0958"


async def many_messages(
    sessions: async_sessionmaker[AsyncSession], count: int, *, day: int = 10
) -> Period:
    """`count` messages in one conversation on 10 November (one a second)."""
    async with sessions.begin() as session:
        b = Builder(session)
        customer = await b.customer(900 + day, "en")
        conversation = await b.conversation(customer, at(day, 0))
        start = at(day, 0)
        rows = [
            {
                "conversation_id": conversation.id,
                "direction": "in",
                "author": "customer",
                "kind": "text",
                "text": f"question number {n} " + PRIVATE,
                "created_at": start + timedelta(seconds=n),
            }
            for n in range(count)
        ]
        await session.execute(insert(Message), rows)
    return Period(at(day, 0), at(day + 1, 0))


async def test_the_summary_is_for_admins_only(
    start_service: StartService, telegram: FakeTelegram
) -> None:
    service = await start_service()
    async with service.runtime.sessions.begin() as session:
        await build_week(session)
    params = {"from": "2026-11-01", "to": "2026-11-07"}

    anonymous = await Api(service).get("/analytics/summary", **params)
    assert anonymous.status_code == 401
    agent = await signed_in(service, "agent@example.com")
    assert (await agent.get("/analytics/summary", **params)).status_code == 403
    assert (await agent.get("/analytics/export", **params)).status_code == 403

    admin = await signed_in(service, "admin@example.com", role="admin")
    response = await admin.get("/analytics/summary", **params)
    assert response.status_code == 200, response.text
    body = response.json()
    # "to" is a whole day, included: the same week as test_metrics.py.
    assert body["period"] == {"start": "2026-11-01T00:00:00Z", "end": "2026-11-08T00:00:00Z"}
    assert body["conversations"] == 6
    assert body["csat"] == 2 / 3
    assert body["escalation_reasons"] == {"low_confidence": 1, "explicit_request": 1, "keyword": 1}
    assert [row["conversations"] for row in body["by_day"]] == [2, 1, 1, 0, 1, 1, 0]
    german = await admin.get("/analytics/summary", language="de", **params)
    assert german.json()["conversations"] == 2
    wrong = await admin.get("/analytics/summary", **{"from": "2026-11-09", "to": "2026-11-01"})
    assert wrong.status_code == 422

    schema = (await service.http.get(f"{service.base_url}/openapi.json")).json()
    assert "/api/analytics/summary" in schema["paths"]
    assert "/api/analytics/export" in schema["paths"]


async def test_the_export_streams_every_message_redacted(
    start_service: StartService, telegram: FakeTelegram
) -> None:
    service = await start_service()
    period = await many_messages(service.runtime.sessions, 3000)
    admin = await signed_in(service, "admin@example.com", role="admin")
    chunks: list[bytes] = []
    async with service.http.stream(
        "GET",
        admin.url("/analytics/export"),
        params={"from": "2026-11-10", "to": "2026-11-10", "format": "csv"},
        headers=admin.headers,
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert "content-length" not in response.headers  # streamed, not buffered
        async for chunk in response.aiter_raw():
            chunks.append(chunk)
    assert len(chunks) > 1
    rows = list(csv.DictReader(io.StringIO(b"".join(chunks).decode())))
    assert len(rows) == 3000
    assert rows[0]["text"] == "question number 0 card [card], mail [email], call [phone]"
    assert rows[0]["outcome"] == "open" and rows[0]["author"] == "customer"
    assert rows[2999]["seconds_since_start"] == "2999.0"

    raw = await admin.get(
        "/analytics/export",
        **{"from": period.start.isoformat(), "to": period.end.isoformat()},
        format="jsonl",
        redact="false",
    )
    lines = raw.text.splitlines()
    assert raw.headers["content-type"] == "application/x-ndjson"
    assert len(lines) == 3000
    assert json.loads(lines[0])["text"] == "question number 0 " + PRIVATE


async def test_the_export_holds_a_batch_not_the_period(database_url: str) -> None:

    from helpdesk.store.db import create_engine, session_factory

    engine = create_engine(database_url)
    sessions = session_factory(engine)
    small = await many_messages(sessions, 1000, day=10)
    large = await many_messages(sessions, 8000, day=12)

    async def peak(period: Period) -> tuple[int, int]:
        chunks = 0
        tracemalloc.start()
        async for _chunk in stream_export(sessions, period, fmt=ExportFormat.JSONL, batch=250):
            chunks += 1
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return chunks, top

    await peak(small)  # warm caches (compiled statements, pools)
    small_chunks, small_peak = await peak(small)
    large_chunks, large_peak = await peak(large)
    await engine.dispose()
    # One chunk per batch of 250 rows...
    assert (small_chunks, large_chunks) == (4, 32)
    # ...and 8x the rows do not take anywhere near 8x the memory.
    assert large_peak < 2 * small_peak, (small_peak, large_peak)
