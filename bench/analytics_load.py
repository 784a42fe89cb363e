"""Benchmark: analytics on a year of history, 1,000,000 messages in PostgreSQL.

Generates the history straight into a throwaway database (COPY), then times
`compute_summary` for the last 30 days and the message export over 90 days, and
prints the figures next to the targets of issue 7:

    .venv/bin/python bench/analytics_load.py [--messages 1000000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import meets
from tests.conftest import fresh_postgres_database

from helpdesk.analytics.export import ExportFormat, stream_export
from helpdesk.analytics.metrics import Period, compute_summary
from helpdesk.store.db import create_engine, session_factory
from helpdesk.store.migrate import upgrade_async

MESSAGES_PER_CONVERSATION = 8  # customer, bot, customer, bot... (agents on escalations)
CUSTOMERS = 20_000
AGENTS = 10
TOPICS = 25
DAYS = 365
NOW = datetime(2026, 11, 28, tzinfo=UTC)
TEXTS = [
    "Where is my parcel? Order 4711, tracking says nothing since Monday.",
    "Can I return the blue jacket I bought last week?",
    "My card 4111 1111 1111 1111 was charged twice, call me on +44 20 7946 0958",
    "How long does shipping to Canada take?",
    "Please write to ada@example.com about my refund",
]


async def generate(dsn: str, messages: int, seed: int = 7) -> int:
    """A year of conversations; returns how many conversations were written."""
    rng = random.Random(seed)
    conn = await asyncpg.connect(dsn)
    try:
        start = NOW - timedelta(days=DAYS)
        await conn.copy_records_to_table(
            "agents",
            records=[
                (i, f"agent{i}@example.com", f"Agent {i}", "agent", "x", True, True, start)
                for i in range(1, AGENTS + 1)
            ],
            columns=[
                "id",
                "email",
                "name",
                "role",
                "password_hash",
                "available",
                "active",
                "created_at",
            ],
        )
        languages = ["en", "en", "en", "de", "fr", "es"]
        await conn.copy_records_to_table(
            "customers",
            records=[
                (i, "telegram", 10_000 + i, rng.choice(languages), start, start)
                for i in range(1, CUSTOMERS + 1)
            ],
            columns=["id", "channel", "external_id", "language_code", "created_at", "last_seen_at"],
        )
        total = messages // MESSAGES_PER_CONVERSATION
        message_id = 0
        for first in range(1, total + 1, 10_000):
            conversations, outcomes, ratings, rows, votes = [], [], [], [], []
            for cid in range(first, min(first + 10_000, total + 1)):
                created = start + timedelta(seconds=rng.uniform(0, DAYS * 86400))
                customer = rng.randint(1, CUSTOMERS)
                escalated = rng.random() < 0.2
                agent = rng.randint(1, AGENTS) if escalated else None
                at = created
                bot_ids = []
                for n in range(MESSAGES_PER_CONVERSATION):
                    message_id += 1
                    customer_turn = n % 2 == 0
                    at += timedelta(seconds=rng.uniform(2, 90))
                    author = (
                        "customer" if customer_turn else ("agent" if escalated and n > 2 else "bot")
                    )
                    rows.append(
                        (
                            message_id,
                            cid,
                            "in" if customer_turn else "out",
                            author,
                            agent if author == "agent" else None,
                            "text",
                            rng.choice(TEXTS) if customer_turn else "Here is how that works.",
                            at,
                            rng.random() if author == "bot" else None,
                            "offline" if author == "bot" else None,
                        )
                    )
                    if author == "bot":
                        bot_ids.append(message_id)
                escalated_at = created + timedelta(seconds=30) if escalated else None
                conversations.append(
                    (
                        cid,
                        customer,
                        "telegram",
                        10_000 + customer,
                        "resolved",
                        False,
                        "low_confidence" if escalated else None,
                        agent,
                        escalated_at,
                        escalated_at + timedelta(minutes=5) if escalated_at else None,
                        at if escalated else None,
                        created,
                        at,
                        at,
                    )
                )
                outcome = (
                    "resolved_agent"
                    if escalated
                    else rng.choice(["resolved_bot", "resolved_bot", "resolved_bot", "abandoned"])
                )
                outcomes.append((cid, outcome, "bench", at, at))
                if rng.random() < 0.3:
                    ratings.append((cid, customer, rng.randint(1, 5), at, at))
                if bot_ids and rng.random() < 0.2:
                    votes.append((bot_ids[0], cid, rng.random() < 0.7, at, at))
            await conn.copy_records_to_table(
                "conversations",
                records=conversations,
                columns=[
                    "id",
                    "customer_id",
                    "channel",
                    "chat_id",
                    "state",
                    "needs_human",
                    "escalation_reason",
                    "assigned_agent_id",
                    "escalated_at",
                    "claimed_at",
                    "resolved_at",
                    "created_at",
                    "updated_at",
                    "closed_at",
                ],
            )
            await conn.copy_records_to_table(
                "messages",
                records=rows,
                columns=[
                    "id",
                    "conversation_id",
                    "direction",
                    "author",
                    "agent_id",
                    "kind",
                    "text",
                    "created_at",
                    "confidence",
                    "responder",
                ],
            )
            await conn.copy_records_to_table(
                "conversation_outcomes",
                records=outcomes,
                columns=["conversation_id", "outcome", "reason", "ended_at", "decided_at"],
            )
            await conn.copy_records_to_table(
                "ratings",
                records=[(i + first * 10, *r) for i, r in enumerate(ratings)],
                columns=[
                    "id",
                    "conversation_id",
                    "customer_id",
                    "score",
                    "created_at",
                    "updated_at",
                ],
            )
            await conn.copy_records_to_table(
                "answer_feedback",
                records=[(i + first * 10, *v) for i, v in enumerate(votes)],
                columns=[
                    "id",
                    "message_id",
                    "conversation_id",
                    "helpful",
                    "created_at",
                    "updated_at",
                ],
            )
        for topic in range(TOPICS):
            source = json.dumps(
                [{"article_id": f"t{topic}", "title": f"Topic {topic}", "score": 0.8}]
            )
            await conn.execute(
                "UPDATE messages SET sources = $1::jsonb WHERE author = 'bot' AND id % $2 = $3",
                source,
                TOPICS,
                topic,
            )
        for table in (
            "agents",
            "customers",
            "conversations",
            "messages",
            "ratings",
            "answer_feedback",
        ):
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        await conn.execute("VACUUM ANALYZE")
        return total
    finally:
        await conn.close()


async def measure(url: str, runs: int) -> dict[str, Any]:
    engine = create_engine(url)
    sessions = session_factory(engine)
    month = Period(NOW - timedelta(days=30), NOW)
    timings = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        async with sessions() as session:
            summary = await compute_summary(session, month)
        timings.append(time.perf_counter() - started)
    figures: dict[str, Any] = {
        "summary_conversations": summary.conversations,
        "summary_ms_median": statistics.median(timings[1:]) * 1000,
        "summary_ms_first": timings[0] * 1000,
    }
    quarter = Period(NOW - timedelta(days=90), NOW)
    for redacted in (False, True):
        key = "export_redacted" if redacted else "export"
        rows, elapsed, _ = await export(sessions, quarter, redacted=redacted, traced=False)
        figures[f"{key}_rows"] = rows
        figures[f"{key}_rows_per_s"] = rows / elapsed
    # Memory in a separate pass: tracing slows every allocation several times over.
    for days in (30, 90):
        period = Period(NOW - timedelta(days=days), NOW)
        rows, _, peak = await export(sessions, period, redacted=False, traced=True)
        figures[f"export_{days}d_rows"] = rows
        figures[f"export_{days}d_peak_mb"] = peak / 2**20
    await engine.dispose()
    return figures


async def export(
    sessions: Any, period: Period, *, redacted: bool, traced: bool
) -> tuple[int, float, int]:
    """(rows, seconds, peak traced bytes) of one CSV export."""
    rows = 0
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    async for chunk in stream_export(sessions, period, fmt=ExportFormat.CSV, redacted=redacted):
        rows += chunk.count("\r\n")
    elapsed = time.perf_counter() - started
    peak = 0
    if traced:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return rows - 1, elapsed, peak


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    async with fresh_postgres_database() as url:
        await upgrade_async(url)
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        started = time.perf_counter()
        conversations = await generate(dsn, args.messages)
        generated = time.perf_counter() - started
        figures = await measure(url, args.runs)
    figures.update(messages=args.messages, conversations=conversations, generate_s=generated)
    if args.json:
        print(json.dumps(figures, indent=2))
    targets = [
        ("summary_ms_median", "<=", 500, "summary, 30 days (ms, median)"),
        ("export_rows_per_s", ">=", 50_000, "export rows/s (csv, 90 days)"),
    ]
    ok = True
    print(
        f"{args.messages:,} messages, {conversations:,} conversations, "
        f"generated in {generated:.0f} s"
    )
    for key, op, target, label in targets:
        value = figures[key]
        met = meets(value, op, target)
        ok &= met
        print(
            f"  {label:<40} {value:>12,.1f}   target {op} {target:,}   {'ok' if met else 'MISSED'}"
        )
    print(f"  {'summary, 30 days: conversations':<40} {figures['summary_conversations']:>12,}")
    for days in (30, 90):
        label = f"export peak memory, {figures[f'export_{days}d_rows']:,} rows (MB)"
        print(f"  {label:<40} {figures[f'export_{days}d_peak_mb']:>12,.1f}")
    print(f"  {'export rows/s with redaction':<40} {figures['export_redacted_rows_per_s']:>12,.1f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
