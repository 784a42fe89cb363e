"""The optional weekly report: last week's headline numbers emailed to every admin.

On with HELPDESK_WEEKLY_REPORT=true (and SendGrid configured). Once a week, from
Monday at HELPDESK_WEEKLY_REPORT_HOUR in HELPDESK_HANDOFF_TIMEZONE, each active admin
gets last week's (Monday to Sunday, UTC) numbers, top questions and knowledge gaps,
with a link to the dashboard. A service that was down on Monday catches up when it
starts. Who already got which week is kept in <data_dir>/weekly_report.json, so a
restart never mails the same week twice; a failed send is retried on the next check.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from html import escape
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.analytics import charts
from helpdesk.analytics.clusters import TextEncoder
from helpdesk.analytics.metrics import Period
from helpdesk.analytics.report import ReportData, collect
from helpdesk.config import Settings
from helpdesk.notify.base import EmailSender, NotifyError
from helpdesk.store.models import Agent

log = structlog.get_logger(__name__)

CHECK_EVERY = 15 * 60.0
MARKER = "weekly_report.json"
TOP = 5


@dataclass(frozen=True, slots=True)
class Email:
    subject: str
    text: str
    html: str


def due_week(now: datetime, settings: Settings) -> Period:
    """Last week (Monday to Monday, UTC) once this week's sending time has passed."""
    local = now.astimezone(ZoneInfo(settings.handoff_timezone))
    monday = local.date() - timedelta(days=local.weekday())
    send_from = datetime.combine(monday, time(settings.weekly_report_hour), local.tzinfo)
    if local < send_from:
        monday -= timedelta(days=7)
    end = datetime.combine(monday, time(), UTC)
    return Period(end - timedelta(days=7), end)


def week_name(period: Period) -> str:
    year, week, _ = period.start.isocalendar()
    return f"{year}-W{week:02d}"


def compose(data: ReportData, *, company: str, dashboard_url: str) -> Email:
    first, last = charts.period_dates(data.period)
    lines = [f"{company}: support last week ({first} to {last}, UTC)", ""]
    rows = []
    for h in data.headlines:
        lines.append(f"{h.label}: {h.text} ({h.change_text} vs the week before)")
        rows.append(
            f"<tr><td>{escape(h.label)}</td><td><strong>{escape(h.text)}</strong></td>"
            f"<td>{escape(h.change_text)}</td></tr>"
        )
    clusters = data.queries.clusters[:TOP]
    if clusters:
        lines += ["", "Top questions:"]
        lines += [f"- {c.label} ({c.volume}, {c.previous_volume} before)" for c in clusters]
    gaps = data.gaps[:TOP]
    if gaps:
        lines += ["", "Knowledge gaps (the bot was unsure, voted down or handed over):"]
        lines += [f"- {gap.label} ({len(gap.questions)}x)" for gap in gaps]
    lines += ["", f"Dashboard: {dashboard_url}"]
    html = (
        f"<h2>{escape(company)}: support last week</h2>"
        f"<p>{first} to {last} (UTC)</p>"
        "<table cellpadding='6'><tr><th align='left'>Measure</th><th align='left'>Last week</th>"
        f"<th align='left'>Change</th></tr>{''.join(rows)}</table>"
        + _html_list("Top questions", [f"{c.label} ({c.volume})" for c in clusters])
        + _html_list(
            "Knowledge gaps", [f"{g.label} ({len(g.questions)}x)" for g in data.gaps[:TOP]]
        )
        + f"<p><a href='{escape(dashboard_url)}'>Open the dashboard</a></p>"
    )
    conversations = next(h for h in data.headlines if h.key == "conversations")
    subject = f"{company} support, week of {first}: {conversations.text} conversations"
    return Email(subject, "\n".join(lines) + "\n", html)


def _html_list(title: str, items: list[str]) -> str:
    if not items:
        return ""
    return f"<h3>{escape(title)}</h3><ul>{''.join(f'<li>{escape(i)}</li>' for i in items)}</ul>"


class WeeklyReporter:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        email: EmailSender,
        encoder: TextEncoder,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._email = email
        self._encoder = encoder
        self.marker = settings.data_dir / MARKER

    async def run(self, stop: asyncio.Event, *, every: float = CHECK_EVERY) -> None:
        log.info("weekly_report.started", hour=self._settings.weekly_report_hour)
        while not stop.is_set():
            try:
                await self.tick(datetime.now(UTC))
            except Exception:
                log.exception("weekly_report.failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)

    async def tick(self, now: datetime) -> int:
        """Send the due week's report to every admin who has not had it; returns how many."""
        period = due_week(now, self._settings)
        week = week_name(period)
        done = self._sent(week)
        async with self._sessions() as session:
            admins = [
                email
                for email in await session.scalars(
                    select(Agent.email).where(Agent.role == "admin", Agent.active.is_(True))
                )
                if email not in done
            ]
            if not admins:
                return 0
            data = await collect(
                session, self._encoder, period, threshold=self._settings.answer_threshold
            )
        mail = compose(
            data,
            company=self._settings.company_name,
            dashboard_url=self._settings.public_url.rstrip("/") + "/console/analytics?period=7d",
        )
        sent = 0
        for address in admins:
            try:
                await self._email.send_email(address, mail.subject, mail.text, mail.html)
            except NotifyError as error:
                # Retried at the next check: the marker only lists who got it.
                log.warning("weekly_report.not_sent", week=week, error=str(error))
                continue
            done.add(address)
            self._remember(week, done)
            sent += 1
        log.info("weekly_report.sent", week=week, admins=sent)
        return sent

    def _sent(self, week: str) -> set[str]:
        try:
            state = json.loads(self.marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return set()
        return set(state.get("sent", [])) if state.get("week") == week else set()

    def _remember(self, week: str, sent: set[str]) -> None:
        self.marker.parent.mkdir(parents=True, exist_ok=True)
        partial = self.marker.with_suffix(".tmp")
        partial.write_text(json.dumps({"week": week, "sent": sorted(sent)}), encoding="utf-8")
        partial.replace(self.marker)


async def run_weekly_reports(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    email: EmailSender | None,
    encoder: TextEncoder,
    stop: asyncio.Event,
) -> None:
    """The app's task (see app.py); returns at once when the weekly report is off."""
    if not settings.weekly_report:
        return
    if email is None:
        log.warning("weekly_report.no_email", hint="set HELPDESK_SENDGRID_API_KEY and _FROM")
        return
    await WeeklyReporter(sessions, settings, email, encoder).run(stop)
