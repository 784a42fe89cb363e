"""The customer's "a person will reply" message: place in the queue and a rough wait.

The estimate assumes each available agent is, on average, halfway through a
conversation when this one joins, and then takes conversations in order: the wait is
(position - 1/2) / agents x the recent median handling time. It is rounded coarsely
("a few minutes", "about 15 minutes", "about an hour") because promising precision we
don't have only makes the wait feel longer.

With nobody available, `Settings.handoff_hours` (e.g. "mon-fri 09:00-17:30, sat
10:00-14:00", in `handoff_timezone`) lets the message say when the team is back;
without it, or if it cannot be parsed, the message stays neutral. Call
`parse_opening_hours(settings.handoff_hours)` at start-up to reject a bad value early.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from helpdesk.config import Settings

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_GROUP = re.compile(
    r"^(?P<first>[a-z]{3})(?:\s*-\s*(?P<last>[a-z]{3}))?\s+"
    r"(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})$"
)
NO_NEED_TO_WRITE = "You don't need to write again: they'll see everything you've sent."


@dataclass(frozen=True, slots=True)
class OpeningSpan:
    weekday: int  # Monday is 0
    start: time
    end: time | None  # None: until midnight


def _clock(text: str, spec: str) -> time | None:
    hours, minutes = (int(part) for part in text.split(":"))
    if (hours, minutes) == (24, 0):
        return None
    if hours > 23 or minutes > 59:
        raise ValueError(f"bad time {text!r} in opening hours {spec!r}")
    return time(hours, minutes)


def parse_opening_hours(spec: str) -> tuple[OpeningSpan, ...]:
    """Parse "mon-fri 09:00-17:30, sat 10:00-14:00" (groups split by "," or ";").

    Day ranges may wrap ("fri-mon"); an empty spec means "no opening hours known".
    Raises ValueError with the offending part.
    """
    spans: list[OpeningSpan] = []
    for raw in re.split(r"[,;]", spec.lower()):
        group = " ".join(raw.split())
        if not group:
            continue
        match = _GROUP.match(group)
        if match is None or match["first"] not in DAYS or (match["last"] or "mon") not in DAYS:
            raise ValueError(
                f"cannot read {group!r} in opening hours {spec!r}:"
                " expected e.g. 'mon-fri 09:00-17:00'"
            )
        start, end = _clock(match["start"], spec), _clock(match["end"], spec)
        if start is None or (end is not None and end <= start):
            raise ValueError(f"{group!r} in opening hours {spec!r} must end after it starts")
        first = DAYS.index(match["first"])
        last = DAYS.index(match["last"]) if match["last"] else first
        for offset in range((last - first) % 7 + 1):
            spans.append(OpeningSpan((first + offset) % 7, start, end))
    return tuple(spans)


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def next_opening(spans: tuple[OpeningSpan, ...], now: datetime, zone: tzinfo) -> datetime | None:
    """When the team is next open, in `zone`; None if open now or no hours are known."""
    local = now.astimezone(zone)
    soonest: datetime | None = None
    for days_ahead in range(8):
        day = local.date() + timedelta(days=days_ahead)
        for span in spans:
            if span.weekday != day.weekday():
                continue
            opens = datetime.combine(day, span.start, zone)
            closes = (
                datetime.combine(day, span.end, zone)
                if span.end is not None
                else datetime.combine(day + timedelta(days=1), time(0), zone)
            )
            if opens <= local < closes:
                return None
            if opens > local and (soonest is None or opens < soonest):
                soonest = opens
    return soonest


def estimate_wait_seconds(
    position: int, agents_available: int, median_handling_seconds: float
) -> float:
    """Rough seconds until a person picks up the conversation at `position` (1 = next)."""
    if agents_available <= 0:
        return math.inf
    return (max(position, 1) - 0.5) / agents_available * median_handling_seconds


def describe_wait(seconds: float) -> str:
    minutes = seconds / 60
    if minutes < 5:
        return "a few minutes"
    if minutes < 55:
        return f"about {max(5, round(minutes / 5) * 5)} minutes"
    if minutes < 90:
        return "about an hour"
    if minutes < 8 * 60:
        return f"about {round(minutes / 60)} hours"
    return "several hours"


def _when(opens: datetime, now: datetime) -> str:
    days = (opens.date() - now.astimezone(opens.tzinfo).date()).days
    day = "today" if days == 0 else "tomorrow" if days == 1 else _DAY_NAMES[opens.weekday()]
    return f"{day} at {opens:%H:%M}"


def queue_message(
    *,
    position: int,
    agents_available: int,
    median_handling_seconds: float | None,
    settings: Settings,
    now: datetime | None = None,
) -> str:
    """Markdown telling a waiting customer where they stand.

    `position` is 1 for the next conversation to be picked up (for one that just
    joined: the number of waiting conversations); `median_handling_seconds` is None
    until there is history, and `settings.handoff_default_handling_seconds` stands in.
    """
    now = now or datetime.now(UTC)
    if agents_available <= 0:
        return _nobody_available(settings, now)
    median = median_handling_seconds or settings.handoff_default_handling_seconds
    wait = describe_wait(estimate_wait_seconds(position, agents_available, median))
    place = "You're **next** in line" if position <= 1 else f"You're **number {position}** in line"
    return (
        f"A person from our team will reply here. {place}; the wait should be **{wait}**.\n\n"
        f"{NO_NEED_TO_WRITE}"
    )


def _nobody_available(settings: Settings, now: datetime) -> str:
    try:
        spans = parse_opening_hours(settings.handoff_hours)
    except ValueError:
        spans = ()
    zone = _zone(settings.handoff_timezone)
    opens = next_opening(spans, now, zone) if spans else None
    if opens is None:
        return f"A person from our team will reply here as soon as possible.\n\n{NO_NEED_TO_WRITE}"
    return (
        "Our team is away right now. A person will reply here when we're back: "
        f"**{_when(opens, now)}** ({zone}).\n\n{NO_NEED_TO_WRITE}"
    )
