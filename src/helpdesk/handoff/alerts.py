"""Who to alert about an escalated conversation, by which channel, and what to say.

`plan_alerts` is a pure function of the conversation's state, its escalation time,
the agents on duty and the alerts already recorded, so calling it again (on every
customer message, on a timer) never repeats an alert. The caller records each
`PlannedAlert` (status SENT) in the same transaction that queues it, and marks it
FAILED when the provider rejects it or reports it undelivered.

The ladder, within one escalation (alerts recorded before `escalated_at` are ignored):
1. the first available agent, by the first channel in `handoff_alert_channels` they
   have an address for (default SMS, then email);
2. a failed channel falls back at once to the agent's next channel; an agent with no
   channel left is skipped at once;
3. if nobody has claimed the conversation `handoff_sla_seconds` (default 300) after the
   last alert that went out, the next available agent, up to
   `handoff_agents_before_admin` (default 2) agents in all;
4. then the admins (available ones first), one per SLA period; then nothing more.
The order of `agents` is the rotation: pass them least-busy first, say.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from helpdesk.config import Settings
from helpdesk.domain import Author, ConversationState, EscalationReason, Turn
from helpdesk.handoff.policy import Escalation
from helpdesk.notify.templates import sms_segments

MAX_SMS_SEGMENTS = 2
EMAIL_MESSAGES = 6
EMAIL_MESSAGE_CHARS = 500


class Channel(StrEnum):
    SMS = "sms"
    EMAIL = "email"


class Role(StrEnum):
    AGENT = "agent"
    ADMIN = "admin"


class AlertStatus(StrEnum):
    SENT = "sent"  # queued, accepted or delivered: the agent may well have it
    FAILED = "failed"  # rejected or undelivered


class AlertKind(StrEnum):
    FIRST = "first"
    FALLBACK = "fallback"  # same agent, other channel
    NEXT_AGENT = "next_agent"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Agent:
    id: str
    name: str
    email: str | None = None
    phone: str | None = None
    available: bool = True
    role: Role = Role.AGENT

    def address(self, channel: Channel) -> str | None:
        return self.phone if channel == Channel.SMS else self.email


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """An alert already sent (or tried) for this conversation."""

    agent_id: str
    channel: Channel
    at: datetime
    status: AlertStatus = AlertStatus.SENT


@dataclass(frozen=True, slots=True)
class PlannedAlert:
    agent: Agent
    channel: Channel
    to: str
    kind: AlertKind


@dataclass(frozen=True, slots=True)
class AlertPlan:
    """Alerts to send now, and when to plan again if the conversation is still waiting."""

    alerts: tuple[PlannedAlert, ...]
    next_check_at: datetime | None
    note: str


def _channels(settings: Settings, usable: Collection[Channel] | None) -> list[Channel]:
    wanted = []
    for name in settings.handoff_alert_channels:
        try:
            wanted.append(Channel(name.strip().lower()))
        except ValueError:
            continue  # an unknown channel name must not stop the known ones
    return [c for c in dict.fromkeys(wanted) if usable is None or c in usable]


def plan_alerts(
    *,
    state: ConversationState,
    escalated_at: datetime,
    agents: Sequence[Agent],
    history: Sequence[AlertRecord],
    settings: Settings,
    now: datetime | None = None,
    channels: Collection[Channel] | None = None,
) -> AlertPlan:
    """The alerts due now for one escalated conversation (see the module docstring).

    `channels` are those with a configured sender (default: all in settings).
    """
    now = now or datetime.now(UTC)
    if state != ConversationState.WAITING:
        return AlertPlan((), None, f"conversation is {state.value}, not waiting")
    order = _channels(settings, channels)
    if not order:
        return AlertPlan((), None, "no alert channel configured")
    sla = timedelta(seconds=settings.handoff_sla_seconds)
    records = sorted((r for r in history if r.at >= escalated_at), key=lambda r: r.at)
    by_id = {a.id: a for a in agents}

    def reachable(agent: Agent) -> list[Channel]:
        return [c for c in order if agent.address(c)]

    if records:
        latest = records[-1].agent_id
        tried = {r.channel for r in records if r.agent_id == latest}
        reached = any(r.status == AlertStatus.SENT for r in records if r.agent_id == latest)
        agent = by_id.get(latest)
        if not reached and agent is not None:
            left = [c for c in reachable(agent) if c not in tried]
            if left:
                alert = PlannedAlert(
                    agent, left[0], agent.address(left[0]) or "", AlertKind.FALLBACK
                )
                return AlertPlan(
                    (alert,), now + sla, f"{', '.join(sorted(tried))} failed, trying {left[0]}"
                )
        sent = [r for r in records if r.status == AlertStatus.SENT]
        if reached and sent and now < sent[-1].at + sla:
            return AlertPlan((), sent[-1].at + sla, "alerted; waiting for a claim")
    alerted = list(dict.fromkeys(r.agent_id for r in records))
    nxt = _next_recipient(agents, alerted, settings, reachable)
    if nxt is None:
        note = "everyone on the ladder was alerted" if records else "nobody to alert"
        return AlertPlan((), None, note)
    kind = (
        AlertKind.FIRST
        if not records
        else AlertKind.ADMIN
        if nxt.role == Role.ADMIN
        else AlertKind.NEXT_AGENT
    )
    channel = reachable(nxt)[0]
    alert = PlannedAlert(nxt, channel, nxt.address(channel) or "", kind)
    return AlertPlan((alert,), now + sla, f"{kind.value}: {nxt.id} by {channel.value}")


def _next_recipient(
    agents: Sequence[Agent],
    alerted: Sequence[str],
    settings: Settings,
    reachable: Callable[[Agent], list[Channel]],
) -> Agent | None:
    done = set(alerted)
    by_id = {a.id: a for a in agents}
    agents_alerted = sum(1 for i in alerted if i in by_id and by_id[i].role == Role.AGENT)
    # Someone not in today's list was an agent once: count them, or admins come late.
    agents_alerted += sum(1 for i in alerted if i not in by_id)
    if agents_alerted < settings.handoff_agents_before_admin:
        for agent in agents:
            if (
                agent.role == Role.AGENT
                and agent.available
                and agent.id not in done
                and reachable(agent)
            ):
                return agent
    admins = sorted(
        (a for a in agents if a.role == Role.ADMIN and a.id not in done and reachable(a)),
        key=lambda a: not a.available,
    )
    return admins[0] if admins else None


# --- the alert's text -------------------------------------------------------------

REASON_LABELS = {
    EscalationReason.EXPLICIT_REQUEST: "asked for a person",
    EscalationReason.KEYWORD: "escalation keyword",
    EscalationReason.LLM_FAILURE: "the AI failed to answer",
    EscalationReason.SENTIMENT: "customer upset",
    EscalationReason.REPETITION: "repeating the question",
    EscalationReason.LOW_CONFIDENCE: "the bot was unsure",
    EscalationReason.LLM_REQUEST: "the AI asked for a person",
}
# Keep SMS in GSM-7 where a customer's typography is the only thing in the way.
_GSM_FRIENDLY = str.maketrans(
    {"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "...", "\u00a0": " "}
)


@dataclass(frozen=True, slots=True)
class AlertContext:
    conversation_id: int | str
    customer_name: str | None
    escalation: Escalation
    last_messages: Sequence[Turn] = ()
    channel: str | None = None
    escalated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AlertText:
    subject: str
    sms: str
    email: str

    def for_channel(self, channel: Channel) -> str:
        return self.sms if channel == Channel.SMS else self.email


def conversation_link(settings: Settings, conversation_id: int | str) -> str:
    return f"{settings.public_url.rstrip('/')}/console/conversations/{conversation_id}"


def _waited(context: AlertContext, now: datetime) -> str:
    if context.escalated_at is None:
        return ""
    minutes = max(0, int((now - context.escalated_at).total_seconds() // 60))
    return f"waiting {minutes} min"


def alert_text(
    context: AlertContext,
    settings: Settings,
    *,
    kind: AlertKind = AlertKind.FIRST,
    now: datetime | None = None,
) -> AlertText:
    """Subject and email body, and an SMS of at most two segments with the link intact."""
    now = now or datetime.now(UTC)
    name = " ".join((context.customer_name or "").split()) or "A customer"
    reason = REASON_LABELS.get(context.escalation.reason, context.escalation.reason.value)
    waited = _waited(context, now)
    prefix = {
        AlertKind.NEXT_AGENT: "Still unclaimed: ",
        AlertKind.ADMIN: "Unclaimed, please assign: ",
    }.get(kind, "")
    link = conversation_link(settings, context.conversation_id)
    subject = f"{prefix}{name} needs a person ({reason}) - {settings.company_name}"
    return AlertText(
        subject=" ".join(subject.split()),
        sms=_sms(prefix, name, reason, waited, _last_customer_text(context), link, settings),
        email=_email(context, name, reason, waited, link, prefix),
    )


def _last_customer_text(context: AlertContext) -> str:
    for turn in reversed(context.last_messages):
        if turn.author is Author.CUSTOMER and turn.text.strip():
            return " ".join(turn.text.split())
    return ""


def _fits(text: str) -> bool:
    return sms_segments(text)[1] <= MAX_SMS_SEGMENTS


def _sms(
    prefix: str, name: str, reason: str, waited: str, quote: str, link: str, settings: Settings
) -> str:
    status = f"{reason}, {waited}" if waited else reason
    name = name.translate(_GSM_FRIENDLY)
    quote = quote.translate(_GSM_FRIENDLY)

    def build(name: str, quote: str) -> str:
        said = f' "{quote}"' if quote else ""
        return f"{settings.company_name}: {prefix}{name} needs a person ({status}).{said} {link}"

    while not _fits(build(name, "")) and len(name) > 12:
        name = name[: len(name) - 8].rstrip() + "..."
    if not _fits(build(name, "")):
        return build(name, "")  # an absurdly long link or company name: send it anyway
    if _fits(build(name, quote)):
        return build(name, quote)
    low, high = 0, len(quote)  # the longest prefix of the quote that still fits
    while low < high:
        mid = (low + high + 1) // 2
        if _fits(build(name, _cut(quote, mid))):
            low = mid
        else:
            high = mid - 1
    return build(name, _cut(quote, low)) if low >= 10 else build(name, "")


def _cut(text: str, length: int) -> str:
    if length >= len(text):
        return text
    cut = text[:length].rstrip()
    # Prefer a word boundary when one is close.
    space = cut.rfind(" ")
    if space >= length - 15 and space > 0:
        cut = cut[:space]
    return re.sub(r"[\s.,;:!?-]+$", "", cut) + "..."


def _email(
    context: AlertContext, name: str, reason: str, waited: str, link: str, prefix: str
) -> str:
    lines = [f"{prefix}{name} is waiting for a person" + (f" ({waited})." if waited else ".")]
    detail = context.escalation.detail.strip()
    lines.append(f"Reason: {reason}" + (f" - {detail}" if detail else ""))
    if context.channel:
        lines.append(f"Channel: {context.channel}")
    messages = [t for t in context.last_messages if t.text.strip()][-EMAIL_MESSAGES:]
    if messages:
        lines += ["", "Last messages:"]
        for turn in messages:
            text = " ".join(turn.text.split())
            if len(text) > EMAIL_MESSAGE_CHARS:
                text = _cut(text, EMAIL_MESSAGE_CHARS)
            lines.append(f"  {turn.author.value.capitalize()}: {text}")
    lines += ["", f"Open the conversation: {link}"]
    return "\n".join(lines)
