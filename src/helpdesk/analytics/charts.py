"""What the dashboard and the HTML report show: headline numbers and chart data.

Both read the same `Summary` (helpdesk.analytics.metrics) for the period and the one
before it, plus the common queries (helpdesk.analytics.clusters), and turn them into
plain JSON-ready data; `console/static/analytics.js` draws it with Chart.js in the
console and, inlined, in the report. Nothing here knows of HTML or Chart.js options.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.analytics.clusters import CommonQueries
from helpdesk.analytics.metrics import Period, Summary
from helpdesk.store.models import Customer

Kind = Literal["count", "rate", "seconds", "number"]
# The rates where going down is the good news.
LOWER_IS_BETTER = frozenset({"escalation_rate", "first_response", "resolution_time"})
TOP_CLUSTERS = 10
REASON_LABELS = {
    "explicit_request": "Asked for a person",
    "low_confidence": "Low answer confidence",
    "keyword": "Trigger word",
    "repetition": "Repeated question",
    "sentiment": "Upset customer",
    "llm_failure": "AI unavailable",
    "llm_request": "AI asked for help",
}
PRESETS = {"7d": 7, "30d": 30, "90d": 90}


@dataclass(frozen=True, slots=True)
class Headline:
    key: str
    label: str
    kind: Kind
    value: float | None
    previous: float | None

    @property
    def text(self) -> str:
        return format_value(self.kind, self.value)

    @property
    def previous_text(self) -> str:
        return format_value(self.kind, self.previous)

    @property
    def change(self) -> float | None:
        """Rates change in percentage points, everything else relatively."""
        if self.value is None or self.previous is None:
            return None
        if self.kind == "rate":
            return self.value - self.previous
        if self.previous == 0:
            return None
        return (self.value - self.previous) / self.previous

    @property
    def change_text(self) -> str:
        change = self.change
        if change is None:
            return "no earlier data" if self.previous is None else "new"
        if self.kind == "rate":
            return f"{change * 100:+.1f} pts"
        return f"{change * 100:+.0f} %"

    @property
    def trend(self) -> Literal["up", "down", "flat"]:
        change = self.change
        if change is None or abs(change) < 0.005:
            return "flat"
        return "up" if change > 0 else "down"

    @property
    def good(self) -> bool | None:
        """Whether the change is good news (None: neither, or a plain count)."""
        if self.trend == "flat" or self.kind == "count":
            return None
        better_up = self.key not in LOWER_IS_BETTER
        return (self.trend == "up") == better_up


def format_value(kind: Kind, value: float | None) -> str:
    if value is None:
        return "–"
    if kind == "rate":
        return f"{value * 100:.1f} %"
    if kind == "seconds":
        return format_seconds(value)
    if kind == "count":
        return f"{int(value):,}".replace(",", " ")
    return f"{value:.1f}"


def format_seconds(value: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if value >= size:
            return f"{_trim(value / size)} {unit}"
    return f"{value:.0f} s"


def _trim(number: float) -> str:
    return f"{number:.1f}".removesuffix(".0")


def headlines(current: Summary, previous: Summary) -> list[Headline]:
    def pair(name: str) -> tuple[float | None, float | None]:
        return getattr(current, name), getattr(previous, name)

    rows: list[tuple[str, str, Kind, str]] = [
        ("conversations", "Conversations", "count", "conversations"),
        ("automated_resolution", "Resolved by the bot", "rate", "automated_resolution_rate"),
        ("escalation_rate", "Escalated to a person", "rate", "escalation_rate"),
        ("csat", "CSAT (4-5 of 5)", "rate", "csat"),
        ("first_response", "First response (median)", "seconds", "first_response_seconds_p50"),
        ("resolution_time", "Resolution time (median)", "seconds", "resolution_seconds_p50"),
        ("helpfulness", "Answers rated helpful", "rate", "answer_helpfulness"),
        ("messages", "Messages per conversation", "number", "messages_per_conversation"),
    ]
    return [Headline(key, label, kind, *pair(field)) for key, label, kind, field in rows]


def bucket_label(upper: float | None, lower: float | None) -> str:
    if upper is None:
        return f"> {format_seconds(lower or 0)}"
    return f"≤ {format_seconds(upper)}"


def chart_data(
    current: Summary, previous: Summary, queries: CommonQueries | None
) -> dict[str, Any]:
    """Every chart's labels and series, ready for `json.dumps` and analytics.js."""
    # Past two months, weeks (starting Monday) read better than a forest of days.
    weekly = current.period.length > timedelta(days=62)
    days = current.by_week if weekly else current.by_day
    labels = [row.day.isoformat() for row in days]
    bounds = [bucket.upper_seconds for bucket in current.first_response_histogram]
    response_labels = [
        bucket_label(upper, bounds[i - 1] if i else None) for i, upper in enumerate(bounds)
    ]
    clusters = (queries.clusters if queries else [])[:TOP_CLUSTERS]
    return {
        "period": {
            "from": period_dates(current.period)[0],
            "to": period_dates(current.period)[1],
            "language": current.language,
            "step": "week" if weekly else "day",
        },
        "volume": {
            "labels": labels,
            "series": [
                {"label": "Conversations", "data": [row.conversations for row in days]},
                {"label": "Resolved by the bot", "data": [row.resolved_by_bot for row in days]},
            ],
        },
        "rates": {
            "labels": labels,
            "percent": True,
            "series": [
                {
                    "label": "Automated resolution rate",
                    "data": [_percent(row.automated_resolution_rate) for row in days],
                },
                {
                    "label": "Escalation rate",
                    "data": [_percent(row.escalation_rate) for row in days],
                },
            ],
        },
        "csat": {
            "labels": labels,
            "percent": True,
            "series": [{"label": "CSAT", "data": [_percent(row.csat) for row in days]}],
        },
        "ratings": {
            "labels": [f"{score} ★" for score in range(1, 6)],
            "series": [
                {
                    "label": "Ratings",
                    "data": [current.rating_distribution.get(s, 0) for s in range(1, 6)],
                },
                {
                    "label": "Previous period",
                    "data": [previous.rating_distribution.get(s, 0) for s in range(1, 6)],
                },
            ],
        },
        "reasons": {
            "labels": [REASON_LABELS.get(key, key) for key in current.escalation_reasons],
            "horizontal": True,
            "series": [
                {"label": "Escalations", "data": list(current.escalation_reasons.values())},
                {
                    "label": "Previous period",
                    "data": [
                        previous.escalation_reasons.get(k, 0) for k in current.escalation_reasons
                    ],
                },
            ],
        },
        "response_times": {
            "labels": response_labels,
            "series": [
                {
                    "label": "Conversations",
                    "data": [bucket.count for bucket in current.first_response_histogram],
                }
            ],
        },
        "clusters": {
            "labels": [_short(cluster.label) for cluster in clusters],
            "horizontal": True,
            "series": [
                {"label": "This period", "data": [cluster.volume for cluster in clusters]},
                {
                    "label": "Previous period",
                    "data": [cluster.previous_volume for cluster in clusters],
                },
            ],
        },
    }


def _percent(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 1)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def parse_period(
    preset: str | None, start: str | None, end: str | None, *, now: datetime | None = None
) -> Period:
    """A preset ("7d", "30d", "90d") or an inclusive date range (YYYY-MM-DD, UTC).

    Raises ValueError for anything else, or for a range that ends before it starts.
    """
    if start or end:
        if not (start and end):
            raise ValueError("give both dates of the period")
        first, last = date.fromisoformat(start), date.fromisoformat(end)
        if last < first:
            raise ValueError("the period ends before it starts")
        if (last - first).days > 366:
            raise ValueError("a period is at most a year")
        return Period(_midnight(first), _midnight(last + timedelta(days=1)))
    days = PRESETS.get(preset or "30d")
    if days is None:
        raise ValueError(f"unknown period {preset!r}")
    return Period.last_days(days, now=now)


def period_dates(period: Period) -> tuple[str, str]:
    """The first and last day (inclusive) of a period of whole days, as YYYY-MM-DD."""
    last = period.end - timedelta(microseconds=1)
    return period.start.date().isoformat(), last.date().isoformat()


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC)


async def languages(session: AsyncSession) -> list[str]:
    """The customers' language codes, for the filter."""
    rows = await session.scalars(
        select(Customer.language_code)
        .where(Customer.language_code.is_not(None))
        .group_by(Customer.language_code)
        .order_by(Customer.language_code)
        .limit(100)
    )
    return [code for code in rows if code]
