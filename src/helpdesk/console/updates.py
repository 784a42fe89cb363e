"""Customer updates (campaigns) in the console, for admins: write, preview, send, watch,
cancel.

The page lists campaigns with sent / failed / pending / skipped / cancelled counts.
While one is sending, updates.js listens to the console's event stream (the campaign
worker publishes a "campaign" event when progress moves) and fetches
/console/updates/progress, with a slow poll as a fallback, so the numbers move without
a reload. A sending update has a Cancel button that asks for confirmation first (a
second button, revealed by the first: no script needed, and the server refuses a
cancel without it).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse

from helpdesk.campaigns.cancel import CampaignFinished, CampaignNotFound, cancel
from helpdesk.campaigns.segments import SegmentError, parse_segment
from helpdesk.campaigns.service import CHANNELS, Draft, Plan, create, plan
from helpdesk.campaigns.templates import PLACEHOLDERS
from helpdesk.console.auth import AdminOnly, CheckedForm, Viewer, runtime_of
from helpdesk.console.render import ConsoleRoute, redirect, render
from helpdesk.store import campaigns as campaign_store

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

SEGMENT_HELP = "all, verified, language=de, tag=orders, topic=how-to-return"


def _draft(form: dict[str, str], viewer: Viewer, topic_days: int) -> Draft:
    days_text = form.get("days", "").strip()
    days = int(days_text) if days_text.isdigit() else None
    segment = parse_segment(form.get("segment", "all"), days=days, topic_days=topic_days)
    variants: dict[str, str] = {}
    language = form.get("variant_language", "").strip().lower()
    if language and form.get("variant_text", "").strip():
        variants[language] = form["variant_text"].strip()
    return Draft(
        segment=segment,
        channel=form.get("channel", "telegram"),
        text=form.get("text", "").strip(),
        link=form.get("link", "").strip() or None,
        variants=variants,
        created_by=f"agent:{viewer.id} {viewer.email}",
    )


async def _page(
    request: Request,
    viewer: Viewer,
    *,
    form: dict[str, str] | None = None,
    preview: Plan | None = None,
    error: str | None = None,
) -> Response:
    async with runtime_of(request).sessions() as session:
        campaigns = await campaign_store.campaign_progress(session, limit=50)
    return render(
        request,
        "updates.html",
        status=400 if error else 200,
        viewer=viewer,
        campaigns=campaigns,
        channels=CHANNELS,
        form=form or {"channel": "telegram", "segment": "all"},
        preview=preview,
        error=error,
        segment_help=SEGMENT_HELP,
        placeholders=sorted("{" + name + "}" for name in PLACEHOLDERS),
        sms_configured=bool(runtime_of(request).settings.twilio_from),
    )


@router.get("/console/updates")
async def updates_page(request: Request, viewer: AdminOnly) -> Response:
    return await _page(request, viewer)


@router.get("/console/updates/progress")
async def updates_progress(request: Request, viewer: AdminOnly) -> Response:
    async with runtime_of(request).sessions() as session:
        campaigns = await campaign_store.campaign_progress(session, limit=50)
    return JSONResponse({"campaigns": [c.as_dict() for c in campaigns]})


@router.post("/console/updates")
async def send_update(request: Request, viewer: AdminOnly, form: CheckedForm) -> Response:
    """Preview (action=preview) or create the campaign (action=send)."""
    runtime = runtime_of(request)
    settings = runtime.settings
    options: dict[str, Any] = {
        "company": settings.company_name,
        "knowledge_path": settings.knowledge_path,
    }
    try:
        draft = _draft(form, viewer, settings.campaign_topic_days)
        if form.get("action") != "send":
            async with runtime.sessions() as session:
                planned = await plan(session, draft, **options)
            return await _page(request, viewer, form=form, preview=planned)
        async with runtime.sessions.begin() as session:
            campaign_id, planned = await create(session, draft, **options)
    except (SegmentError, ValueError) as error:
        return await _page(request, viewer, form=form, error=str(error))
    if runtime.campaigns is not None:
        runtime.campaigns.wake()
    total = len(planned.recipients)
    return redirect(
        request,
        "/console/updates",
        ("ok", f"Update #{campaign_id} is on its way to {total} recipient(s)."),
    )


@router.post("/console/updates/{campaign_id}/cancel")
async def cancel_update(
    request: Request, campaign_id: int, viewer: AdminOnly, form: CheckedForm
) -> Response:
    """Cancel a sending update (audited); the form's second button confirms it."""
    if form.get("confirm") != "yes":
        raise HTTPException(400, "Confirm the cancel with its second button.")
    runtime = runtime_of(request)
    try:
        outcome, progress = await cancel(
            runtime.sessions,
            campaign_id,
            actor=f"agent:{viewer.id} {viewer.email}",
            agent_id=viewer.id,
        )
    except CampaignNotFound as error:
        raise HTTPException(404, _sentence(error)) from error
    except CampaignFinished as error:
        return redirect(request, "/console/updates", ("error", _sentence(error)))
    runtime.events.publish("campaign", campaign_ids=[campaign_id])
    if not outcome.cancelled_now:
        message = f"Update #{campaign_id} was already cancelled."
    else:
        message = (
            f"Update #{campaign_id} is cancelled: {progress.cancelled()} recipient(s) will not "
            f"get it ({progress.sent()} already sent)."
        )
    return redirect(request, "/console/updates", ("ok", message))


def _sentence(error: Exception) -> str:
    text = str(error)
    return f"{text[:1].upper()}{text[1:]}."
