"""Builds the analytics parts the running service needs (called from app.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.analytics import privacy
from helpdesk.analytics.feedback import AnswerCallback, FeedbackService
from helpdesk.analytics.outcomes import OutcomeCloser, Renderer
from helpdesk.config import Settings


def build_analytics(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    outlets: Mapping[str, Renderer],
    answer_callback: AnswerCallback | None,
    on_outbox: Callable[[str], None],
) -> tuple[FeedbackService, OutcomeCloser]:
    feedback = FeedbackService(
        sessions, settings, outlets=outlets, answer_callback=answer_callback, on_outbox=on_outbox
    )

    async def purge() -> None:
        await privacy.purge(sessions, timedelta(days=settings.retention_days))

    closer = OutcomeCloser(sessions, settings, outlets=outlets, on_outbox=on_outbox, purge=purge)
    return feedback, closer
