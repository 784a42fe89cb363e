"""The outcome vocabulary, shared by the closer, the metrics and the export."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    """How a conversation ended (or where it stands when it has not ended yet).

    Stored (table conversation_outcomes, decided once by helpdesk.analytics.outcomes):
    RESOLVED_BOT, RESOLVED_AGENT, ABANDONED. Derived at query time for conversations
    without a stored outcome: ESCALATED (with the team, not resolved yet) and OPEN.
    """

    RESOLVED_BOT = "resolved_bot"
    RESOLVED_AGENT = "resolved_agent"
    ABANDONED = "abandoned"
    ESCALATED = "escalated"
    OPEN = "open"


FINAL = frozenset({Outcome.RESOLVED_BOT, Outcome.RESOLVED_AGENT, Outcome.ABANDONED})


def current_outcome(stored: str | None, escalated: bool) -> Outcome:
    if stored is not None:
        return Outcome(stored)
    return Outcome.ESCALATED if escalated else Outcome.OPEN
