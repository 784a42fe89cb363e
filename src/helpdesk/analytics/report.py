"""`helpdesk report --from --to --out report.html`: the dashboard as one HTML file.

Self-contained: Chart.js (with its license header), the chart script, the styles and
the data (a JSON block) are inlined, so the file opens offline, from an email
attachment or a shared drive, and never fetches anything.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.analytics import charts
from helpdesk.analytics.clusters import CommonQueries, TextEncoder, common_queries
from helpdesk.analytics.gaps import GapTopic, knowledge_gaps
from helpdesk.analytics.metrics import Period, Summary, compute_summary
from helpdesk.config import Settings

log = structlog.get_logger(__name__)

HERE = Path(__file__).parent
# The console's copies: one Chart.js and one chart script for the dashboard and the report.
STATIC = HERE.parent / "console" / "static"
INLINED_SCRIPTS = ("chart.umd.min.js", "analytics.js")
TOP_GAPS = 10


@dataclass(frozen=True, slots=True)
class ReportData:
    period: Period
    language: str | None
    current: Summary
    previous: Summary
    queries: CommonQueries
    gaps: list[GapTopic]
    generated_at: datetime

    @property
    def headlines(self) -> list[charts.Headline]:
        return charts.headlines(self.current, self.previous)

    def chart_data(self) -> dict[str, Any]:
        return charts.chart_data(self.current, self.previous, self.queries)


async def collect(
    session: AsyncSession,
    encoder: TextEncoder,
    period: Period,
    *,
    threshold: float,
    language: str | None = None,
) -> ReportData:
    current = await compute_summary(session, period, language=language)
    previous = await compute_summary(session, period.previous(), language=language)
    queries = await common_queries(session, encoder, period, language=language)
    gaps = await knowledge_gaps(session, encoder, period, threshold=threshold, language=language)
    return ReportData(
        period, language, current, previous, queries, gaps[:TOP_GAPS], datetime.now(UTC)
    )


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["percent"] = lambda value: "–" if value is None else f"{value * 100:.0f} %"
    return env


def inline_script(source: str) -> Markup:
    # Inside <script>, only "</script" (any case) can end the element early.
    return Markup(source.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT"))


def render_report(data: ReportData, *, company: str) -> str:
    scripts = [
        inline_script((STATIC / name).read_text(encoding="utf-8")) for name in INLINED_SCRIPTS
    ]
    chart_json = json.dumps(data.chart_data(), ensure_ascii=False)
    return (
        _environment()
        .get_template("report.html")
        .render(
            data=data,
            company=company,
            dates=charts.period_dates(data.period),
            styles=Markup((STATIC / "analytics.css").read_text(encoding="utf-8")),
            scripts=scripts,
            # The JSON block is data, never code; "</" is escaped so it cannot close it.
            chart_json=Markup(chart_json.replace("</", "<\\/")),
        )
    )


async def write_report(
    settings: Settings, period: Period, out: Path, *, language: str | None = None
) -> Path:
    """Collect the period's figures from the database and write the report to `out`."""
    from helpdesk.brain.embeddings import Encoder
    from helpdesk.store.db import create_engine, session_factory

    engine = create_engine(settings.database_url)
    encoder = Encoder(settings.embedding_model)
    try:
        async with session_factory(engine)() as session:
            data = await collect(
                session,
                encoder,
                period,
                threshold=settings.answer_threshold,
                language=language,
            )
    finally:
        await engine.dispose()
    html = render_report(data, company=settings.company_name)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    log.info("analytics.report_written", path=str(out), bytes=len(html.encode()))
    return out


# --- The command line -------------------------------------------------------------


def add_report_parser(commands: Any) -> None:
    report = commands.add_parser(
        "report", help="write a self-contained HTML analytics report for a period"
    )
    report.add_argument("--from", dest="start", required=True, help="first day, YYYY-MM-DD")
    report.add_argument("--to", dest="end", required=True, help="last day (included)")
    report.add_argument("--out", type=Path, default=Path("report.html"))
    report.add_argument("--language", help="only customers with this language code")


def run_report(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from helpdesk.store.migrate import upgrade_async

    try:
        period = charts.parse_period(None, args.start, args.end)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    async def run() -> Path:
        await upgrade_async(settings.database_url)
        return await write_report(settings, period, args.out, language=args.language)

    path = asyncio.run(run())
    print(f"report for {args.start} to {args.end} written to {path}")
    return 0
