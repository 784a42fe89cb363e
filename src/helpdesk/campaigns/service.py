"""Preview and create a campaign: segment, consent, templates, recipient rows.

Creating writes the campaign and one row per recipient and channel in one
transaction, each with its text already rendered: the workers then only send, and a
restart finds exactly the rows that were not sent yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.campaigns.consent import sms_allowed, telegram_allowed
from helpdesk.campaigns.segments import Segment
from helpdesk.campaigns.templates import (
    MAX_TEXT,
    Person,
    TemplateError,
    check_template,
    pick_text,
    render,
    sms_cost,
)
from helpdesk.notify.templates import GSM7, UCS2
from helpdesk.store import audience
from helpdesk.store import campaigns as store

log = structlog.get_logger(__name__)

CHANNELS = ("telegram", "sms", "both")
TELEGRAM, SMS = store.TELEGRAM, store.SMS


@dataclass(frozen=True, slots=True)
class Draft:
    segment: Segment
    channel: str
    text: str
    link: str | None = None
    variants: Mapping[str, str] = field(default_factory=dict)
    created_by: str = "console"

    def channels(self) -> tuple[str, ...]:
        return (TELEGRAM, SMS) if self.channel == "both" else (self.channel,)


@dataclass
class Plan:
    """Who gets what; shown before sending (console preview, CLI --dry-run)."""

    recipients: list[store.NewRecipient] = field(default_factory=list)
    in_segment: int = 0
    opted_out: dict[str, int] = field(default_factory=dict)  # channel -> customers left out
    unreachable: dict[str, int] = field(default_factory=dict)  # no chat / no verified number

    def count(self, channel: str) -> int:
        return sum(1 for r in self.recipients if r.channel == channel)

    @property
    def sms_segments(self) -> int:
        return sum(r.segments for r in self.recipients if r.channel == SMS)

    @property
    def sms_max_segments(self) -> int:
        return max((r.segments for r in self.recipients if r.channel == SMS), default=0)

    @property
    def sms_encoding(self) -> str | None:
        """UCS-2 if any SMS needs it (a name with an emoji is enough), else GSM-7."""
        bodies = [r.body for r in self.recipients if r.channel == SMS]
        if not bodies:
            return None
        return UCS2 if any(sms_cost(b).encoding == UCS2 for b in bodies) else GSM7

    def sample(self, channel: str) -> str | None:
        return next((r.body for r in self.recipients if r.channel == channel), None)


def validate(draft: Draft) -> None:
    """Raise TemplateError (a ValueError) for anything that would make a bad campaign."""
    if draft.channel not in CHANNELS:
        raise TemplateError(f"channel must be one of {', '.join(CHANNELS)}")
    for language, text in {"": draft.text, **dict(draft.variants)}.items():
        check_template(text)
        if len(text) > MAX_TEXT:
            where = f" ({language} variant)" if language else ""
            raise TemplateError(f"the text{where} is {len(text)} characters; at most {MAX_TEXT}")
    if draft.link and not draft.link.lower().startswith(("https://", "http://")):
        raise TemplateError("the link must start with https:// or http://")


def article_ids_for(segment: Segment, knowledge_path: Path) -> set[str]:
    """The knowledge-base articles a tag or topic segment stands for."""
    if segment.kind == "topic" and segment.value:
        return {segment.value}
    if segment.kind != "tag":
        return set()
    from helpdesk.brain.knowledge import load_articles

    return {
        article.id
        for article in load_articles(knowledge_path)
        if segment.value in {tag.lower() for tag in article.tags}
    }


async def plan(session: AsyncSession, draft: Draft, *, company: str, knowledge_path: Path) -> Plan:
    validate(draft)
    articles = article_ids_for(draft.segment, knowledge_path)
    candidates = await audience.segment_candidates(session, draft.segment, article_ids=articles)
    result = Plan(in_segment=len(candidates))
    for candidate in candidates:
        person = Person(candidate.first_name, candidate.last_name, candidate.language_code)
        text = pick_text(draft.text, draft.variants, candidate.language_code)
        for channel in draft.channels():
            if channel == TELEGRAM:
                reachable = candidate.channel == TELEGRAM
                ok = telegram_allowed(candidate.consent)
                address = str(candidate.external_id)
            else:
                reachable = bool(
                    candidate.consent.phone_e164 and candidate.consent.phone_verified_at
                )
                ok = sms_allowed(candidate.consent)
                address = candidate.consent.phone_e164 or ""
            if not reachable:
                result.unreachable[channel] = result.unreachable.get(channel, 0) + 1
                continue
            if not ok:
                result.opted_out[channel] = result.opted_out.get(channel, 0) + 1
                continue
            body = render(
                text, person, company=company, link=draft.link, markdown=channel == TELEGRAM
            )
            segments = sms_cost(body).segments if channel == SMS else 1
            result.recipients.append(
                store.NewRecipient(candidate.customer_id, channel, address, body, segments)
            )
    return result


async def create(
    session: AsyncSession, draft: Draft, *, company: str, knowledge_path: Path
) -> tuple[int, Plan]:
    """Create the campaign (in the caller's transaction); its id and what was planned."""
    planned = await plan(session, draft, company=company, knowledge_path=knowledge_path)
    campaign_id = await store.create_campaign(
        session,
        segment=str(draft.segment),
        channel=draft.channel,
        text=draft.text,
        variants=dict(draft.variants) or None,
        link=draft.link,
        created_by=draft.created_by,
        recipients=planned.recipients,
    )
    log.info(
        "campaign.created",
        campaign_id=campaign_id,
        segment=str(draft.segment),
        telegram=planned.count(TELEGRAM),
        sms=planned.count(SMS),
        sms_segments=planned.sms_segments,
    )
    return campaign_id, planned
