"""Deciding each conversation's outcome, closing idle ones, and sending the survey.

Outcomes are decided once, by a periodic task (`OutcomeCloser`, started in app.py),
and stored in `conversation_outcomes`; reports read them and treat a conversation
without one as still open (or with the team, if it was escalated). Deciding when the
conversation ends, rather than at query time, keeps the summary a plain aggregate
and lets the same pass close idle conversations and ask for a rating.

The rules (windows in Settings, `HELPDESK_ANALYTICS_*`):
- an agent (or admin) resolved it: resolved by an agent;
- with the bot and idle for the resolution window: resolved by the bot, "confirmed"
  when the customer said so (👍, a 4-5 rating, "thanks, that solved it"),
  "no_follow_up" when the bot answered and the customer did not come back;
  abandoned when the last answer got a 👎 or the bot never answered a question;
- waiting for a person and idle for the abandon window: abandoned ("left_waiting");
- with a person and idle for the abandon window: resolved by the agent when the agent
  had the last word, abandoned otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.analytics.outcome import Outcome
from helpdesk.config import Settings
from helpdesk.store import analytics as store
from helpdesk.store import handoff as handoff_store
from helpdesk.store import outbox
from helpdesk.store.types import utcnow

log = structlog.get_logger(__name__)

BATCH = 200
SURVEY_TEXT = "How would you rate the help you got today? Tap 1 (poor) to 5 (great)."
RATE_PREFIX = "rate"

_CONFIRMATION = re.compile(
    r"\b(thanks?|thank you|thx|ty|cheers|solved|that helped|works now|perfect|great|"
    r"danke|merci|gracias|grazie|obrigad[oa]|спасибо)\b",
    re.IGNORECASE,
)


class Renderer(Protocol):
    def render(self, markdown: str) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    reason: str
    ended_at: datetime


def classify(
    candidate: store.Candidate, signals: store.Signals, now: datetime, settings: Settings
) -> Decision | None:
    """The outcome of a conversation, or None while it may still go either way."""
    idle = now - candidate.last_activity
    if candidate.state == "resolved":
        return Decision(
            Outcome.RESOLVED_AGENT, "resolved", candidate.resolved_at or candidate.last_activity
        )
    if candidate.state == "bot":
        if idle < timedelta(seconds=settings.analytics_resolution_window_seconds):
            return None
        return _bot_outcome(candidate, signals)
    if idle < timedelta(seconds=settings.analytics_abandon_window_seconds):
        return None
    if candidate.state == "waiting":
        return Decision(Outcome.ABANDONED, "left_waiting", candidate.last_activity)
    if signals.last_author == "agent":
        return Decision(Outcome.RESOLVED_AGENT, "no_follow_up", candidate.last_activity)
    return Decision(Outcome.ABANDONED, "no_agent_reply", candidate.last_activity)


def _bot_outcome(candidate: store.Candidate, signals: store.Signals) -> Decision:
    at = candidate.last_activity
    if signals.last_bot_vote is False:
        return Decision(Outcome.ABANDONED, "answer_unhelpful", at)
    confirmed = (
        signals.any_helpful_vote
        or (signals.score is not None and signals.score >= 4)
        or (signals.bot_answers > 0 and is_confirmation(signals.last_customer_text))
    )
    if confirmed:
        return Decision(Outcome.RESOLVED_BOT, "confirmed", at)
    if signals.bot_answers == 0:
        return Decision(Outcome.ABANDONED, "no_answer", at)
    return Decision(Outcome.RESOLVED_BOT, "no_follow_up", at)


def is_confirmation(text: str | None) -> bool:
    """ "thanks, that solved it" and the like, in a few languages."""
    return bool(text) and _CONFIRMATION.search(text or "") is not None


def survey_markup(conversation_id: int) -> dict[str, Any]:
    buttons = [
        {"text": str(score), "callback_data": f"{RATE_PREFIX}:{conversation_id}:{score}"}
        for score in range(1, 6)
    ]
    return {"inline_keyboard": [buttons]}


class OutcomeCloser:
    """Periodically decides outcomes, closes idle conversations, sends surveys, purges."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        *,
        outlets: Mapping[str, Renderer],
        on_outbox: Callable[[str], None] | None = None,
        purge: Callable[[], Any] | None = None,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._outlets = outlets
        self._on_outbox = on_outbox
        self._purge = purge
        self._last_purge: datetime | None = None

    async def run(self, stop: asyncio.Event) -> None:
        interval = self._settings.analytics_closer_interval_seconds
        # The first pass waits one interval: start-up is busy enough.
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
            if stop.is_set():
                return
            try:
                await self.close_due()
                await self._maybe_purge()
            except Exception as error:  # database away: try again next time
                log.warning("analytics.closer_failed", error=repr(error))

    async def close_due(self, now: datetime | None = None) -> list[tuple[int, Decision]]:
        """One pass: decide every conversation that can be decided now."""
        now = now or utcnow()
        windows = (
            self._settings.analytics_resolution_window_seconds,
            self._settings.analytics_abandon_window_seconds,
        )
        idle_before = now - timedelta(seconds=min(windows))
        decided: list[tuple[int, Decision]] = []
        surveyed: set[str] = set()
        after_id = 0
        while True:
            async with self._sessions.begin() as session:
                candidates = await store.outcome_candidates(
                    session, idle_before=idle_before, after_id=after_id, limit=BATCH
                )
                for candidate in candidates:
                    signals = await store.signals(session, candidate.id)
                    decision = classify(candidate, signals, now, self._settings)
                    if decision is None:
                        continue
                    await self._apply(session, candidate, decision, now)
                    if await self._survey(session, candidate, decision, now):
                        surveyed.add(candidate.channel)
                    decided.append((candidate.id, decision))
            if len(candidates) < BATCH:
                break
            after_id = candidates[-1].id
        for channel in surveyed:
            if self._on_outbox is not None:
                self._on_outbox(channel)
        if decided:
            log.info("analytics.outcomes_decided", count=len(decided))
        return decided

    async def _apply(
        self, session: AsyncSession, candidate: store.Candidate, decision: Decision, now: datetime
    ) -> None:
        await store.record_outcome(
            session,
            candidate.id,
            outcome=decision.outcome.value,
            reason=decision.reason,
            ended_at=decision.ended_at,
            now=now,
        )
        if candidate.state != "resolved":
            # Closed, so the customer's next message starts a new conversation.
            await handoff_store.change_state(
                session,
                candidate.id,
                from_states=(candidate.state,),
                to_state="resolved",
                event="resolve",
                actor="system",
                reason=f"{decision.outcome.value}: {decision.reason}",
                values={"closed_at": now, "needs_human": False},
            )

    async def _survey(
        self, session: AsyncSession, candidate: store.Candidate, decision: Decision, now: datetime
    ) -> bool:
        outlet = self._outlets.get(candidate.channel)
        if (
            outlet is None
            or not self._settings.analytics_surveys_enabled
            or decision.outcome not in (Outcome.RESOLVED_BOT, Outcome.RESOLVED_AGENT)
            or now - decision.ended_at
            > timedelta(seconds=self._settings.analytics_survey_max_age_seconds)
            or not await store.may_survey(session, candidate.id, candidate.customer_id)
        ):
            return False
        await outbox.enqueue(
            session,
            channel=candidate.channel,
            chat_id=candidate.chat_id,
            parts=outlet.render(SURVEY_TEXT),
            dedup_prefix=f"survey:{candidate.id}",
            reply_markup=survey_markup(candidate.id),
        )
        await store.mark_surveyed(session, candidate.id, now)
        log.info("analytics.survey_sent", conversation_id=candidate.id)
        return True

    async def _maybe_purge(self) -> None:
        hours = self._settings.retention_purge_interval_hours
        if self._purge is None or hours <= 0:
            return
        now = utcnow()
        if self._last_purge is not None and now - self._last_purge < timedelta(hours=hours):
            return
        self._last_purge = now
        await self._purge()
