"""Admins' analytics pages: the dashboard (/console/analytics) and knowledge gaps
(/console/gaps, where a gap becomes a draft knowledge-base article in one click).

Charts are drawn in the browser by the vendored Chart.js (static/chart.umd.min.js)
from data the page carries as a JSON block: the console's CSP allows no inline script.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import structlog
import yaml
from fastapi import APIRouter, HTTPException, Request, Response

from helpdesk.analytics import charts, clusters, gaps
from helpdesk.analytics.metrics import Period, compute_summary
from helpdesk.brain.knowledge import KnowledgeError
from helpdesk.console.auth import AdminOnly, CheckedForm, runtime_of, safe_next
from helpdesk.console.render import ConsoleRoute, redirect, render

log = structlog.get_logger(__name__)

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

# An article is a page or two of Markdown; the console's form limit is 64 kB anyway.
MAX_DRAFT_CHARS = 30_000


@dataclass(frozen=True, slots=True)
class Filters:
    period: Period
    preset: str | None
    start: str
    end: str
    language: str | None
    languages: list[str]

    def query(self, **extra: str) -> str:
        values = {"period": self.preset} if self.preset else {"from": self.start, "to": self.end}
        if self.language:
            values["language"] = self.language
        values.update(extra)
        return urlencode(values)


async def _filters(
    request: Request,
    period: str | None,
    start: str | None,
    end: str | None,
    language: str | None,
) -> Filters:
    try:
        chosen = charts.parse_period(period, start, end)
    except ValueError as error:
        raise HTTPException(400, f"That period does not work: {error}.") from error
    async with runtime_of(request).sessions() as session:
        codes = await charts.languages(session)
    language = language if language in codes else None
    return Filters(
        period=chosen,
        preset=None if (start or end) else (period or "30d"),
        start=charts.period_dates(chosen)[0],
        end=charts.period_dates(chosen)[1],
        language=language,
        languages=codes,
    )


@router.get("/console/analytics")
async def dashboard(
    request: Request,
    viewer: AdminOnly,
    period: str | None = None,
    language: str | None = None,
) -> Response:
    start, end = request.query_params.get("from"), request.query_params.get("to")
    filters = await _filters(request, period, start, end, language)
    data = await dashboard_data(request, filters.period, filters.language)
    return render(
        request,
        "analytics.html",
        viewer=viewer,
        filters=filters,
        presets=charts.PRESETS,
        **data,
    )


async def dashboard_data(request: Request, period: Period, language: str | None) -> dict[str, Any]:
    runtime = runtime_of(request)
    async with runtime.sessions() as session:
        current = await compute_summary(session, period, language=language)
        previous = await compute_summary(session, period.previous(), language=language)
        queries = await clusters.common_queries(
            session, runtime.brain.encoder, period, language=language
        )
    return {
        "summary": current,
        "headlines": charts.headlines(current, previous),
        "queries": queries,
        "chart_data": charts.chart_data(current, previous, queries),
    }


@router.get("/console/gaps")
async def gaps_page(
    request: Request,
    viewer: AdminOnly,
    period: str | None = None,
    language: str | None = None,
) -> Response:
    start, end = request.query_params.get("from"), request.query_params.get("to")
    filters = await _filters(request, period, start, end, language)
    runtime = runtime_of(request)
    async with runtime.sessions() as session:
        topics = await gaps.knowledge_gaps(
            session,
            runtime.brain.encoder,
            filters.period,
            threshold=runtime.settings.answer_threshold,
            language=filters.language,
        )
    return render(
        request,
        "gaps.html",
        viewer=viewer,
        filters=filters,
        presets=charts.PRESETS,
        topics=topics,
        drafts=[gaps.draft_article(topic) for topic in topics],
        drafts_path=runtime.settings.kb_drafts_path,
        threshold=runtime.settings.answer_threshold,
    )


@router.post("/console/gaps/drafts")
async def save_draft(request: Request, viewer: AdminOnly, form: CheckedForm) -> Response:
    back = safe_next(form.get("next"))
    back = back if back.startswith("/console/gaps") else "/console/gaps"
    text = form.get("article", "").replace("\r\n", "\n")
    if not text.strip():
        return redirect(request, back, ("error", "The draft is empty."))
    if len(text) > MAX_DRAFT_CHARS:
        return redirect(request, back, ("error", "That draft is too long for one article."))
    folder: Path = runtime_of(request).settings.kb_drafts_path
    try:
        path = await asyncio.to_thread(gaps.save_draft, folder, text)
    except (KnowledgeError, yaml.YAMLError, ValueError) as error:
        problem = str(error).splitlines()[0] if str(error) else type(error).__name__
        return redirect(
            request,
            back,
            ("error", f"Not saved: the knowledge base could not read it ({problem})."),
        )
    except OSError as error:
        log.warning("console.draft_not_saved", folder=str(folder), error=str(error))
        return redirect(request, back, ("error", "Not saved: the drafts folder is not writable."))
    log.info("console.draft_saved", admin=viewer.id, path=str(path))
    return redirect(request, back, ("ok", f"Draft saved as {path}."))
