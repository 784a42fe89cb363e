"""Analytics for admins and BI tools: the period summary and the streamed export."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import HTTPException, Query
from fastapi.responses import StreamingResponse

from helpdesk.analytics.export import MEDIA_TYPES, ExportFormat, stream_export
from helpdesk.analytics.metrics import Period, Summary, compute_summary
from helpdesk.api.auth import AdminAgent, RuntimeDep
from helpdesk.api.errors import FORBIDDEN, INVALID, UNAUTHORIZED, api_router

router = api_router(tags=["analytics"])

DEFAULT_DAYS = 30
FROM = Query(
    alias="from",
    description="Start, inclusive: a date (YYYY-MM-DD, UTC) or an ISO 8601 date-time. "
    "Default: 30 days before `to`.",
)
TO = Query(
    description="End: a date (the whole UTC day included) or an ISO 8601 date-time "
    "(exclusive). Default: the end of today.",
)
LANGUAGE = Query(description="Only customers with this language code (e.g. en)")


def parse_moment(value: str, *, end: bool) -> datetime:
    """A date means a whole UTC day; a date-time without a zone is UTC."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime.combine(day, datetime.min.time(), UTC)
            return moment + timedelta(days=1) if end else moment
        parsed = datetime.fromisoformat(value)
    except ValueError as error:
        raise HTTPException(422, f"not a date or date-time: {value!r}") from error
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def period_from(start: str | None, end: str | None) -> Period:
    stop = parse_moment(end, end=True) if end is not None else Period.last_days(1).end
    begin = parse_moment(start, end=False) if start else stop - timedelta(days=DEFAULT_DAYS)
    if begin >= stop:
        raise HTTPException(422, "`from` must be before `to`")
    return Period(begin, stop)


@router.get("/analytics/summary", responses={**UNAUTHORIZED, **FORBIDDEN, **INVALID})
async def summary(
    _admin: AdminAgent,
    runtime: RuntimeDep,
    start: Annotated[str | None, FROM] = None,
    to: Annotated[str | None, TO] = None,
    language: Annotated[str | None, LANGUAGE] = None,
) -> Summary:
    """The period's metrics: volume, outcomes, CSAT, response and resolution times,
    by day, week, language, channel, topic and agent (definitions in the README)."""
    period = period_from(start, to)
    async with runtime.sessions() as session:
        return await compute_summary(session, period, language=language)


@router.get(
    "/analytics/export",
    responses={
        **UNAUTHORIZED,
        **FORBIDDEN,
        **INVALID,
        200: {
            "description": "One row per message, streamed",
            "content": {"text/csv": {}, "application/x-ndjson": {}},
        },
    },
    response_class=StreamingResponse,
)
async def export(
    _admin: AdminAgent,
    runtime: RuntimeDep,
    start: Annotated[str | None, FROM] = None,
    to: Annotated[str | None, TO] = None,
    format: Annotated[ExportFormat, Query(description="csv or jsonl")] = ExportFormat.CSV,
    redact: Annotated[
        bool, Query(description="Replace phone numbers, emails and card numbers in texts")
    ] = True,
    language: Annotated[str | None, LANGUAGE] = None,
) -> StreamingResponse:
    """Every message sent in the period, with its conversation's outcome and rating."""
    period = period_from(start, to)
    region = getattr(runtime, "settings", None)
    chunks = stream_export(
        runtime.sessions,
        period,
        fmt=format,
        redacted=redact,
        language=language,
        region=getattr(region, "verify_default_region", None),
    )
    name = f"helpdesk-{period.start:%Y%m%d}-{period.end:%Y%m%d}.{format.value}"
    return StreamingResponse(
        chunks,
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
