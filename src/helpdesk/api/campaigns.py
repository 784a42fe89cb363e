"""Customer updates (campaigns) over the JSON API, admins only: list, look at one,
create (or only count, with `dry_run`), cancel. The same rules as the console form
and `helpdesk notify` (campaigns/service.py, campaigns/cancel.py)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from helpdesk.api.auth import AdminAgent
from helpdesk.api.errors import FORBIDDEN, INVALID, UNAUTHORIZED, api_router, problem
from helpdesk.campaigns.cancel import CampaignFinished, CampaignNotFound, cancel
from helpdesk.campaigns.progress import Progress
from helpdesk.campaigns.segments import SegmentError, parse_segment
from helpdesk.campaigns.service import Draft, Plan, create, plan
from helpdesk.campaigns.templates import MAX_TEXT
from helpdesk.store import campaigns as campaign_store
from helpdesk.store.campaign_cancel import cancellation

if TYPE_CHECKING:
    from helpdesk.app import Runtime

router = api_router(tags=["campaigns"])

NOT_FOUND = problem(404, "No such campaign")
CONFLICT = problem(409, "The campaign is finished: nothing left to cancel")
CampaignId = Annotated[int, Path(description="the campaign's number")]
CampaignText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


# ---- bodies -----------------------------------------------------------------------------------


class Counts(BaseModel):
    sent: int = Field(description="accepted by Telegram / Twilio (delivered included)")
    delivered: int = Field(description="SMS that Twilio reported delivered")
    failed: int
    pending: int = Field(description="not sent yet (pending, or queued in the outbox)")
    skipped: int = Field(description="the customer opted out, or changed number, meanwhile")
    cancelled: int = Field(description="not reached when the campaign was cancelled")
    total: int


class CampaignOut(BaseModel):
    id: int
    status: Literal["sending", "done", "cancelled"]
    segment: str
    channel: str
    text: str
    link: str | None
    created_by: str
    created_at: datetime
    finished_at: datetime | None = Field(description="done, or cancelled, at")
    counts: Counts
    channels: dict[str, Counts] = Field(description="the counts per channel")


class CampaignDetailOut(CampaignOut):
    by_status: dict[str, dict[str, int]] = Field(
        description="channel -> recipient status (pending, queued, sent, delivered, "
        "failed, skipped, cancelled) -> recipients"
    )
    cancelled_by: str | None = Field(description='"agent:<id> <email>" or "cli:<user>"')
    cancelled_at: datetime | None


class CampaignsOut(BaseModel):
    campaigns: list[CampaignOut]


class CampaignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    segment: str = Field(
        max_length=255,
        description="all, verified, language=xx, tag=TAG or topic=ARTICLE_ID",
        examples=["tag=shipping"],
    )
    channel: Literal["telegram", "sms", "both"] = "telegram"
    text: CampaignText = Field(
        description="{first_name}, {last_name}, {name}, {company} and {link} are filled in "
        f"per customer; at most {MAX_TEXT} characters"
    )
    link: str | None = Field(default=None, description="https://... added at the end")
    days: int | None = Field(default=None, ge=1, description="tag/topic: answers of the last N")
    variants: dict[str, CampaignText] = Field(
        default_factory=dict, description='the text per customer language: {"de": "..."}'
    )
    dry_run: bool = Field(default=False, description="only count the audience; create nothing")


class PlanOut(BaseModel):
    in_segment: int = Field(description="customers in the segment")
    recipients: dict[str, int] = Field(description="messages per channel")
    opted_out: dict[str, int] = Field(description="left out per channel: no consent")
    unreachable: dict[str, int] = Field(description="left out: no chat / verified number")
    sms_encoding: str | None = Field(description="GSM-7 or UCS-2; null without SMS")
    sms_segments: int = Field(description="SMS segments in all (what Twilio bills)")
    sms_max_segments: int = Field(description="segments of the longest SMS")
    samples: dict[str, str] = Field(description="one rendered message per channel")


class CreatedOut(BaseModel):
    dry_run: bool
    plan: PlanOut
    campaign: CampaignDetailOut | None = Field(description="null for a dry run")


class CancelledOut(BaseModel):
    cancelled_now: bool = Field(description="false: it was cancelled before (nothing changed)")
    campaign: CampaignDetailOut


# ---- routes -----------------------------------------------------------------------------------


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


@router.get("/campaigns", responses={**UNAUTHORIZED, **FORBIDDEN})
async def list_campaigns(
    request: Request,
    _admin: AdminAgent,
    limit: Annotated[int, Query(ge=1, le=200, description="newest first")] = 50,
) -> CampaignsOut:
    """The newest campaigns with their status and recipients counted."""
    async with _runtime(request).sessions() as session:
        found = await campaign_store.campaign_progress(session, limit=limit)
    return CampaignsOut(campaigns=[CampaignOut.model_validate(_fields(p)) for p in found])


@router.get("/campaigns/{campaign_id}", responses={**UNAUTHORIZED, **FORBIDDEN, **NOT_FOUND})
async def get_campaign(
    request: Request, campaign_id: CampaignId, _admin: AdminAgent
) -> CampaignDetailOut:
    """One campaign: its status, and its recipients counted by channel and status."""
    return await _detail(_runtime(request), campaign_id)


@router.post(
    "/campaigns",
    status_code=201,
    responses={**UNAUTHORIZED, **FORBIDDEN, **INVALID, 200: {"description": "A dry run"}},
)
async def create_campaign(
    request: Request, body: CampaignIn, agent: AdminAgent, response: Response
) -> CreatedOut:
    """Create a campaign (201): the running service sends it. With `dry_run`: who would
    get it and what the SMS would cost (200), nothing created. 422 says what is wrong
    with the segment, the text or the link."""
    runtime = _runtime(request)
    settings = runtime.settings
    options: dict[str, Any] = {
        "company": settings.company_name,
        "knowledge_path": settings.knowledge_path,
    }
    try:
        draft = Draft(
            segment=parse_segment(
                body.segment, days=body.days, topic_days=settings.campaign_topic_days
            ),
            channel=body.channel,
            text=body.text,
            link=(body.link or "").strip() or None,
            variants={k.strip().lower(): v for k, v in body.variants.items()},
            created_by=f"agent:{agent.id} {agent.email}",
        )
        if body.dry_run:
            async with runtime.sessions() as session:
                planned = await plan(session, draft, **options)
            response.status_code = 200
            return CreatedOut(dry_run=True, plan=_plan(planned, draft), campaign=None)
        async with runtime.sessions.begin() as session:
            campaign_id, planned = await create(session, draft, **options)
    except ValueError as error:  # SegmentError, TemplateError
        raise _invalid(error) from error
    if runtime.campaigns is not None:
        runtime.campaigns.wake()
    campaign = await _detail(runtime, campaign_id)
    return CreatedOut(dry_run=False, plan=_plan(planned, draft), campaign=campaign)


@router.post(
    "/campaigns/{campaign_id}/cancel",
    responses={**UNAUTHORIZED, **FORBIDDEN, **NOT_FOUND, **CONFLICT},
)
async def cancel_campaign(
    request: Request, campaign_id: CampaignId, agent: AdminAgent
) -> CancelledOut:
    """Stop a sending campaign (audited): recipients not reached yet are `cancelled`.
    Messages already on their way still arrive and are counted `sent`. Cancelling a
    cancelled campaign changes nothing (200); a finished one is a 409."""
    runtime = _runtime(request)
    try:
        outcome, _ = await cancel(
            runtime.sessions,
            campaign_id,
            actor=f"agent:{agent.id} {agent.email}",
            agent_id=agent.id,
        )
    except CampaignNotFound as error:
        raise HTTPException(404, f"no campaign #{campaign_id}") from error
    except CampaignFinished as error:
        raise HTTPException(
            409, f"campaign #{campaign_id} is already {error.status}: nothing left to cancel"
        ) from error
    runtime.events.publish("campaign", campaign_ids=[campaign_id])
    campaign = await _detail(runtime, campaign_id)
    return CancelledOut(cancelled_now=outcome.cancelled_now, campaign=campaign)


# ---- helpers ----------------------------------------------------------------------------------


def _fields(progress: Progress) -> dict[str, Any]:
    counts = progress.as_dict()
    return {
        "id": progress.campaign_id,
        "status": progress.status,
        "segment": progress.segment,
        "channel": progress.channel,
        "text": progress.text,
        "link": progress.link,
        "created_by": progress.created_by,
        "created_at": progress.created_at,
        "finished_at": progress.finished_at,
        "counts": counts,
        "channels": counts["channels"],
    }


async def _detail(runtime: Runtime, campaign_id: int) -> CampaignDetailOut:
    async with runtime.sessions() as session:
        found = await campaign_store.campaign_progress(session, campaign_ids=[campaign_id])
        if not found:
            raise HTTPException(404, f"no campaign #{campaign_id}")
        cancelled = await cancellation(session, campaign_id)
    return CampaignDetailOut.model_validate(
        {
            **_fields(found[0]),
            "by_status": found[0].counts,
            "cancelled_by": cancelled.actor if cancelled else None,
            "cancelled_at": cancelled.at if cancelled else None,
        }
    )


def _plan(planned: Plan, draft: Draft) -> PlanOut:
    channels = draft.channels()
    return PlanOut(
        in_segment=planned.in_segment,
        recipients={channel: planned.count(channel) for channel in channels},
        opted_out=planned.opted_out,
        unreachable=planned.unreachable,
        sms_encoding=planned.sms_encoding,
        sms_segments=planned.sms_segments,
        sms_max_segments=planned.sms_max_segments,
        samples={c: s for c in channels if (s := planned.sample(c)) is not None},
    )


def _invalid(error: ValueError) -> RequestValidationError:
    """The service's refusal as a 422 on the field it is about."""
    message = str(error)
    if isinstance(error, SegmentError):
        field = "days" if message.startswith("days") else "segment"
    elif message.startswith("the link"):
        field = "link"
    elif message.startswith("channel"):
        field = "channel"
    elif "variant" in message:
        field = "variants"
    else:
        field = "text"
    return RequestValidationError([{"type": "value_error", "loc": ("body", field), "msg": message}])
