"""The weekly report: last week's numbers emailed to the admins through SendGrid."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.analytics.weekly import WeeklyReporter, due_week
from helpdesk.brain.embeddings import Encoder
from helpdesk.config import Settings
from helpdesk.notify.sendgrid_email import SendGridEmail
from helpdesk.store.models import Agent
from tests.analytics_insight.history import Chat, write_history
from tests.analytics_insight.test_clusters import TOPICS
from tests.conftest import StartOnSharedBrain
from tests.fakes.sendgrid_server import FakeSendGrid
from tests.helpers.service import sendgrid_settings

SENDER = "Northwind reports <reports@northwind.example>"
WEEK_START = datetime(2026, 10, 5, tzinfo=UTC)  # a Monday
NEXT_MONDAY_9AM = datetime(2026, 10, 12, 9, tzinfo=UTC)


async def add_team(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as session:
        for email, role, active in (
            ("grace@example.test", "admin", True),
            ("ada@example.test", "admin", True),
            ("alan@example.test", "agent", True),
            ("gone@example.test", "admin", False),
        ):
            session.add(
                Agent(
                    email=email, name=email, role=role, active=active, password_hash="not-used-here"
                )
            )


def last_week(start: datetime) -> list[Chat]:
    tracking = TOPICS["tracking"]
    return [
        # 5 conversations; the bot resolved 3; ratings 5, 4, 1: CSAT 66.7 %.
        Chat([tracking[1]], start + timedelta(days=1), rating=5),
        Chat([tracking[4]], start + timedelta(days=2), rating=4),
        Chat([tracking[7]], start + timedelta(days=3)),
        Chat(
            ["Do you ship to Iceland?"],
            start + timedelta(days=4),
            confidence=0.2,
            outcome="resolved_agent",
            agent_reply="Yes, 5-7 days.",
            rating=1,
        ),
        Chat(["Can I pay by invoice?"], start + timedelta(days=6), outcome="abandoned"),
        # The week before: 2 conversations.
        Chat([tracking[1]], start - timedelta(days=3)),
        Chat([tracking[4]], start - timedelta(days=2)),
    ]


def mail_parts(mail: dict[str, Any]) -> tuple[str, str, str, str]:
    [personalization] = mail["personalizations"]
    [recipient] = personalization["to"]
    content = {part["type"]: part["value"] for part in mail["content"]}
    subject = mail.get("subject") or personalization.get("subject")
    return recipient["email"], subject, content["text/plain"], content["text/html"]


def test_the_report_is_due_for_last_week_from_monday_at_the_set_hour() -> None:
    settings = Settings(_env_file=None, weekly_report_hour=8, handoff_timezone="Europe/Berlin")
    # Monday 2026-10-12 08:30 in Berlin is 06:30 UTC: last week is due.
    assert due_week(datetime(2026, 10, 12, 6, 30, tzinfo=UTC), settings).start == WEEK_START
    # 07:30 in Berlin: not yet, so the week before that is still the due one.
    earlier = due_week(datetime(2026, 10, 12, 5, 30, tzinfo=UTC), settings)
    assert earlier.start == WEEK_START - timedelta(days=7)
    assert due_week(datetime(2026, 10, 18, 23, tzinfo=UTC), settings).start == WEEK_START


async def test_admins_get_last_weeks_headline_numbers_once(
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
    encoder: Encoder,
    fake_sendgrid: FakeSendGrid,
    tmp_path: Path,
) -> None:
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        data_dir=tmp_path,
        weekly_report=True,
        public_url="https://help.northwind.example",
    )
    email = SendGridEmail(fake_sendgrid.api_key, SENDER, api_base=fake_sendgrid.base_url)
    await add_team(sessions)
    await write_history(sessions, last_week(WEEK_START))
    reporter = WeeklyReporter(sessions, settings, email, encoder)

    fake_sendgrid.fail_next(status=503)  # SendGrid has a bad moment for the first admin
    assert await reporter.tick(NEXT_MONDAY_9AM) == 1
    assert await reporter.tick(NEXT_MONDAY_9AM + timedelta(minutes=15)) == 1  # the retry

    mails = [mail_parts(mail) for mail in fake_sendgrid.mails]
    assert sorted(to for to, *_ in mails) == ["ada@example.test", "grace@example.test"]
    _, subject, text, html = mails[0]
    assert subject == "Northwind Goods support, week of 2026-10-05: 5 conversations"
    assert "2026-10-05 to 2026-10-11" in text
    assert "Conversations: 5 (+150 % vs the week before)" in text
    assert "Resolved by the bot: 60.0 % (-40.0 pts vs the week before)" in text
    assert "CSAT (4-5 of 5): 66.7 %" in text
    assert "Escalated to a person: 20.0 %" in text
    assert "Do you ship to Iceland? (1x)" in text  # a knowledge gap
    assert "(3, 2 before)" in text  # the tracking questions, against the week before
    assert "https://help.northwind.example/console/analytics?period=7d" in text
    assert "<strong>5</strong>" in html and "66.7 %" in html

    # Later checks that week, and a restarted service, send nothing again.
    assert await reporter.tick(NEXT_MONDAY_9AM + timedelta(days=3)) == 0
    restarted = WeeklyReporter(sessions, settings, email, encoder)
    assert await restarted.tick(NEXT_MONDAY_9AM + timedelta(days=6)) == 0
    assert len(fake_sendgrid.mails) == 2
    # The next Monday brings the next week's report.
    assert await restarted.tick(NEXT_MONDAY_9AM + timedelta(days=7)) == 2
    assert mail_parts(fake_sendgrid.mails[-1])[1].endswith("week of 2026-10-12: 0 conversations")


async def test_the_running_service_mails_the_report_when_switched_on(
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    start_on_shared_brain: StartOnSharedBrain,
    fake_sendgrid: FakeSendGrid,
    tmp_path: Path,
) -> None:
    await add_team(sessions)
    monday = due_week(datetime.now(UTC), Settings(_env_file=None)).start
    await write_history(sessions, last_week(monday))

    await start_on_shared_brain(
        database_url,
        data_dir=tmp_path,  # the weekly marker lives there
        weekly_report=True,
        **sendgrid_settings(fake_sendgrid, SENDER),
    )

    mails = [mail_parts(mail) for mail in await fake_sendgrid.wait_for_mails(2, timeout=60)]
    assert sorted(to for to, *_ in mails) == ["ada@example.test", "grace@example.test"]
    assert all("Conversations: 5 (+150 % vs the week before)" in text for _, _, text, _ in mails)
    await asyncio.sleep(0.5)
    assert len(fake_sendgrid.mails) == 2  # the admins only; agents and deactivated admins get none


async def test_the_service_mails_nothing_while_the_weekly_report_is_off(
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    start_on_shared_brain: StartOnSharedBrain,
    fake_sendgrid: FakeSendGrid,
    tmp_path: Path,
) -> None:
    await add_team(sessions)
    service = await start_on_shared_brain(
        database_url, data_dir=tmp_path, **sendgrid_settings(fake_sendgrid, SENDER)
    )
    assert service.settings.weekly_report is False
    await asyncio.sleep(1.0)
    assert fake_sendgrid.mails == []
    assert not (tmp_path / "weekly_report.json").exists()
