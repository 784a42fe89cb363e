"""Phone verification (issue 6): customers prove a number with a code sent by SMS.

`policy` holds the rules (codes, hashes, expiry, attempts, limits) as pure functions,
`phones` the number parsing, `messages` what the bot says, `service` the chat flow
and `gate` which articles need a verified customer. `build_verification` wires it
from the settings.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.config import Settings
from helpdesk.notify import build_verifier
from helpdesk.notify.base import SmsSender
from helpdesk.verification.gate import TaggedArticles
from helpdesk.verification.service import Prompt, VerificationService

__all__ = ["Prompt", "TaggedArticles", "VerificationService", "build_verification"]


def build_verification(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    sms: SmsSender | None,
    brain: Any,
) -> VerificationService:
    """Twilio Verify when its service is configured, else our own codes over `sms`
    (verification is unavailable, and says so, with neither)."""

    def articles() -> Any:
        # The brain swaps its index on reindex; read the live one each time.
        index = getattr(brain, "index", None)
        return getattr(index, "articles", ())

    return VerificationService(
        sessions,
        settings,
        sms=sms,
        verifier=build_verifier(settings),
        protected_articles=TaggedArticles(articles, settings.verify_required_tag),
    )
