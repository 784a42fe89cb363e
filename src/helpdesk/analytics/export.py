"""The message-level export for BI tools: one row per message, streamed.

Rows are read through a server-side cursor (`AsyncSession.stream` with
`yield_per`), a batch at a time, and each batch is encoded and handed on before
the next is fetched: memory stays flat however long the period is.

A message belongs to the export when it was *sent* in the period; each row carries
its conversation's outcome and rating, so a BI tool needs no joins.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.analytics.metrics import Period
from helpdesk.analytics.outcome import Outcome
from helpdesk.analytics.redact import redact
from helpdesk.store.models import (
    AnswerFeedback,
    Conversation,
    ConversationOutcome,
    Customer,
    Message,
    Rating,
)

BATCH = 2000
ESCALATED, OPEN = Outcome.ESCALATED.value, Outcome.OPEN.value
RAW_TIME = DateTime(timezone=True)

COLUMNS = (
    "message_id",
    "conversation_id",
    "customer_id",
    "channel",
    "language",
    "conversation_started_at",
    "outcome",
    "outcome_reason",
    "escalation_reason",
    "assigned_agent_id",
    "rating",
    "sent_at",
    "seconds_since_start",
    "direction",
    "author",
    "agent_id",
    "kind",
    "text",
    "confidence",
    "responder",
    "model",
    "latency_ms",
    "prompt_tokens",
    "completion_tokens",
    "top_source",
    "helpful",
)


class ExportFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


MEDIA_TYPES = {
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.JSONL: "application/x-ndjson",
}


def _query(period: Period, language: str | None) -> Any:
    query = (
        select(
            Message.id,
            Message.conversation_id,
            Conversation.customer_id,
            Conversation.channel,
            Customer.language_code,
            type_coerce(Conversation.created_at, RAW_TIME).label("started_at"),
            ConversationOutcome.outcome,
            ConversationOutcome.reason,
            Conversation.escalation_reason,
            Conversation.escalated_at,
            Conversation.assigned_agent_id,
            Rating.score,
            type_coerce(Message.created_at, RAW_TIME).label("created_at"),
            Message.direction,
            Message.author,
            Message.agent_id,
            Message.kind,
            Message.text,
            Message.caption,
            Message.confidence,
            Message.responder,
            Message.model,
            Message.latency_ms,
            Message.prompt_tokens,
            Message.completion_tokens,
            Message.sources[(0, "title")].as_string().label("top_source"),
            AnswerFeedback.helpful,
        )
        .join(Conversation, Conversation.id == Message.conversation_id)
        .join(Customer, Customer.id == Conversation.customer_id)
        .outerjoin(ConversationOutcome, ConversationOutcome.conversation_id == Conversation.id)
        .outerjoin(Rating, Rating.conversation_id == Conversation.id)
        .outerjoin(AnswerFeedback, AnswerFeedback.message_id == Message.id)
        .where(Message.created_at >= period.start, Message.created_at < period.end)
        .order_by(Message.created_at, Message.id)
    )
    if language is not None:
        query = query.where(Customer.language_code == language)
    return query


def to_values(row: Any, *, redacted: bool, region: str | None = None) -> tuple[Any, ...]:
    """One message's export row, in COLUMNS order (a tuple: this is the hot loop)."""
    (
        message_id,
        conversation_id,
        customer_id,
        channel,
        language,
        started,
        outcome,
        reason,
        escalation_reason,
        escalated_at,
        agent_assigned,
        score,
        sent,
        direction,
        author,
        agent_id,
        kind,
        text,
        caption,
        *answer,
    ) = row
    if text is None:
        text = caption
    if redacted:
        text = redact(text, region=region)
    return (
        message_id,
        conversation_id,
        customer_id,
        channel,
        language,
        _iso(started),
        outcome or (ESCALATED if escalated_at is not None else OPEN),
        reason,
        escalation_reason,
        agent_assigned,
        score,
        _iso(sent),
        round((_aware(sent) - _aware(started)).total_seconds(), 3),
        direction,
        author,
        agent_id,
        kind,
        text,
        *answer,
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    # Timestamps are read raw (no per-value conversion); SQLite's come back naive UTC.
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).isoformat()


def _csv_encoder() -> tuple[Callable[[list[tuple[Any, ...]]], str], str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def encode(rows: list[tuple[Any, ...]]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(rows)
        return buffer.getvalue()

    writer.writerow(COLUMNS)
    header = buffer.getvalue()
    return encode, header


def _jsonl(rows: list[tuple[Any, ...]]) -> str:
    return "".join(
        json.dumps(dict(zip(COLUMNS, row, strict=True)), ensure_ascii=False) + "\n" for row in rows
    )


async def stream_export(
    sessions: async_sessionmaker[AsyncSession],
    period: Period,
    *,
    fmt: ExportFormat = ExportFormat.CSV,
    redacted: bool = True,
    language: str | None = None,
    region: str | None = None,
    batch: int = BATCH,
) -> AsyncIterator[str]:
    """Encoded chunks (a header, then one chunk per batch of rows)."""
    if fmt is ExportFormat.CSV:
        encode, header = _csv_encoder()
        yield header
    else:
        encode = _jsonl
    async with sessions() as session:
        # Core rows, not ORM ones: a third of the cost per row at a million rows.
        connection = await session.connection()
        result = await connection.stream(
            _query(period, language).execution_options(yield_per=batch)
        )
        async for rows in result.partitions(batch):
            yield encode([to_values(row, redacted=redacted, region=region) for row in rows])
