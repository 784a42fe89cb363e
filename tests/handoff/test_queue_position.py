"""The "a person will reply" message: place in line, wait, and closed hours."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta

import pytest

from helpdesk.config import Settings
from helpdesk.handoff.queue_position import (
    NO_NEED_TO_WRITE,
    OpeningSpan,
    describe_wait,
    estimate_wait_seconds,
    next_opening,
    parse_opening_hours,
    queue_message,
)
from tests.handoff.conftest import NOW

HOURS = "mon-fri 09:00-17:30, sat 10:00-14:00"


def test_the_next_customer_hears_a_short_wait(settings: Settings) -> None:
    text = queue_message(
        position=1, agents_available=2, median_handling_seconds=300, settings=settings
    )
    assert text == (
        "A person from our team will reply here. You're **next** in line; "
        f"the wait should be **a few minutes**.\n\n{NO_NEED_TO_WRITE}"
    )


def test_a_longer_queue_gives_the_place_and_a_rounded_wait(settings: Settings) -> None:
    # (4 - 0.5) / 2 agents x 10 min = 17.5 min, said as "about 20 minutes".
    text = queue_message(
        position=4, agents_available=2, median_handling_seconds=600, settings=settings
    )
    assert "You're **number 4** in line; the wait should be **about 20 minutes**." in text


def test_without_history_the_default_handling_time_is_used(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory(handoff_default_handling_seconds=3600)
    text = queue_message(
        position=2, agents_available=1, median_handling_seconds=None, settings=settings
    )
    assert "**about 2 hours**" in text


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (30, "a few minutes"),
        (299, "a few minutes"),
        (300, "about 5 minutes"),
        (17.5 * 60, "about 20 minutes"),
        (50 * 60, "about 50 minutes"),
        (70 * 60, "about an hour"),
        (150 * 60, "about 2 hours"),
        (10 * 3600, "several hours"),
    ],
)
def test_waits_are_rounded_coarsely(seconds: float, said: str) -> None:
    assert describe_wait(seconds) == said


def test_the_estimate_divides_the_queue_among_agents() -> None:
    assert estimate_wait_seconds(1, 1, 600) == 300
    assert estimate_wait_seconds(3, 2, 600) == 750
    assert estimate_wait_seconds(0, 1, 600) == 300


def test_with_nobody_available_and_no_hours_the_message_is_neutral(settings: Settings) -> None:
    text = queue_message(
        position=3, agents_available=0, median_handling_seconds=600, settings=settings, now=NOW
    )
    assert (
        text == f"A person from our team will reply here as soon as possible.\n\n{NO_NEED_TO_WRITE}"
    )


@pytest.mark.parametrize(
    ("now", "back"),
    [
        (NOW.replace(hour=18), "**tomorrow at 10:00**"),  # Friday evening
        (NOW + timedelta(days=1, hours=-8), "**today at 10:00**"),  # Saturday 07:00
        (NOW + timedelta(days=1), "**Monday at 09:00**"),  # Saturday 15:00
        (NOW + timedelta(days=2, hours=6), "**tomorrow at 09:00**"),  # Sunday 21:00
    ],
)
def test_out_of_hours_the_message_says_when_the_team_is_back(
    settings_factory: Callable[..., Settings], now: datetime, back: str
) -> None:
    settings = settings_factory(handoff_hours=HOURS, handoff_timezone="UTC")
    text = queue_message(
        position=1, agents_available=0, median_handling_seconds=None, settings=settings, now=now
    )
    assert text.startswith("Our team is away right now.")
    assert f"{back} (UTC)" in text


def test_opening_hours_are_read_in_their_own_time_zone(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory(
        handoff_hours="mon-fri 09:00-17:00", handoff_timezone="Europe/Berlin"
    )
    # Friday 16:30 UTC is 17:30 in Berlin: closed until Monday 09:00 Berlin time.
    text = queue_message(
        position=1,
        agents_available=0,
        median_handling_seconds=None,
        settings=settings,
        now=NOW.replace(hour=16, minute=30),
    )
    assert "**Monday at 09:00** (Europe/Berlin)" in text


def test_during_opening_hours_with_nobody_free_the_message_is_neutral(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory(handoff_hours=HOURS)
    text = queue_message(
        position=1, agents_available=0, median_handling_seconds=None, settings=settings, now=NOW
    )
    assert text.startswith("A person from our team will reply here as soon as possible.")


def test_unreadable_hours_fall_back_to_the_neutral_message(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory(handoff_hours="weekdays 9 to 5")
    text = queue_message(
        position=1, agents_available=0, median_handling_seconds=None, settings=settings, now=NOW
    )
    assert text.startswith("A person from our team will reply here as soon as possible.")


def test_opening_hours_parse_ranges_wrapping_days_and_midnight() -> None:
    spans = parse_opening_hours("FRI-MON 22:00-24:00; wed 08:00-12:00")
    assert [s.weekday for s in spans] == [4, 5, 6, 0, 2]
    assert spans[0] == OpeningSpan(4, time(22, 0), None)
    assert parse_opening_hours("  ") == ()
    friday_late = NOW.replace(hour=23)
    assert next_opening(spans, friday_late, UTC) is None


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("weekdays 9-5", "cannot read 'weekdays 9-5'"),
        ("mon 17:00-09:00", "must end after it starts"),
        ("mon 09:00-25:00", "bad time '25:00'"),
        ("xyz 09:00-10:00", "cannot read"),
    ],
)
def test_bad_opening_hours_are_rejected_with_the_culprit(spec: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_opening_hours(spec)
