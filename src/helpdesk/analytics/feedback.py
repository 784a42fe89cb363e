"""Customer feedback: the 1-5 rating (with an optional comment) and 👍/👎 on answers.

The buttons come back as callback queries. `intercept` is called by the
conversation service before a message opens (or joins) a conversation: a tap on a
rating button of a closed conversation must not start a new one, and a comment
belongs to the rating, not to the transcript. Every tap is answered with
answerCallbackQuery so the customer's button stops spinning.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.analytics.outcomes import RATE_PREFIX, Renderer
from helpdesk.config import Settings
from helpdesk.domain import IncomingMessage, MessageKind
from helpdesk.store import analytics as store
from helpdesk.store import outbox
from helpdesk.store import updates as update_store
from helpdesk.store.dialect import Executor
from helpdesk.store.types import utcnow

log = structlog.get_logger(__name__)

HELP_PREFIX = "help"
_RATE = re.compile(rf"^{RATE_PREFIX}:(\d+):([1-5])$")
_HELP = re.compile(rf"^{HELP_PREFIX}:(\d+):([01])$")

THANKS_FOR_RATING = (
    "Thank you for your rating! If you'd like to tell us more, just write it in your next message."
)
THANKS_FOR_COMMENT = "Thank you, your comment has been passed on to the team."
RATING_SAVED = "Thanks for your rating!"
RATING_CHANGED = "Your rating has been updated."
RATING_LOCKED = "Your rating was already recorded."
VOTE_SAVED = "Thanks for your feedback!"
NOT_YOURS = "This survey is no longer available."

AnswerCallback = Callable[[str, str | None], Awaitable[None]]


def answer_markup(message_id: int) -> dict[str, Any]:
    """The "Did this answer help?" buttons for one bot answer."""
    return {
        "inline_keyboard": [
            [
                {"text": "👍 Helpful", "callback_data": f"{HELP_PREFIX}:{message_id}:1"},
                {"text": "👎 Not helpful", "callback_data": f"{HELP_PREFIX}:{message_id}:0"},
            ]
        ]
    }


class FeedbackService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        *,
        outlets: Mapping[str, Renderer],
        answer_callback: AnswerCallback | None = None,
        on_outbox: Callable[[str], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._outlets = outlets
        self._answer_callback = answer_callback
        self._on_outbox = on_outbox
        # (channel, chat) → (rated conversation, until when its comment is awaited).
        # `intercept` runs for every customer message, so the check is this map, never a
        # query. The ratings table is what survives a restart: a rating without a comment,
        # tapped within the comment window, with no text from the chat since, is awaiting
        # (store.awaited_comments; no column of its own). The map is loaded from it once,
        # before the first message is intercepted, and each change to the map goes with
        # the change to those rows (a tap, a comment, a text that is not one). A second
        # process sees the waits that existed when it loaded, not later ones.
        self._awaiting_comment: dict[tuple[str, int], tuple[int, datetime]] = {}
        self._loaded = False
        self._loading = asyncio.Lock()

    async def answer_markup(
        self, session: Executor, conversation_id: int, message_id: int
    ) -> dict[str, Any] | None:
        """Buttons for a bot answer, unless opted out or the previous ones were ignored."""
        if not self._settings.analytics_answer_feedback_enabled:
            return None
        if not await store.ask_for_feedback(session, conversation_id, message_id, utcnow()):
            return None
        return answer_markup(message_id)

    async def intercept(self, incoming: IncomingMessage, update_row_id: int | None) -> bool:
        """Handle a feedback tap or a rating comment; False for anything else."""
        if not self._loaded:
            await self.load_awaited_comments()
        if incoming.kind is MessageKind.CALLBACK:
            data = str(incoming.extra.get("data") or "")
            if rate := _RATE.match(data):
                await self._rate(incoming, update_row_id, int(rate[1]), int(rate[2]))
                return True
            if vote := _HELP.match(data):
                await self._vote(incoming, update_row_id, int(vote[1]), vote[2] == "1")
                return True
            return False
        if incoming.kind is MessageKind.TEXT and self._awaiting_comment:
            return await self._comment(incoming, update_row_id)
        return False

    async def load_awaited_comments(self) -> None:
        """Fill the map of awaited comments from the ratings table (once per process)."""
        async with self._loading:
            if self._loaded:
                return
            window = timedelta(seconds=self._settings.analytics_comment_window_seconds)
            async with self._sessions() as session:
                found = await store.awaited_comments(session, rated_after=utcnow() - window)
            for item in found:  # oldest first: a chat's latest tap wins, as when it was made
                self._awaiting_comment[(item.channel, item.chat_id)] = (
                    item.conversation_id,
                    item.rated_at + window,
                )
            self._loaded = True
            log.info("analytics.awaited_comments_loaded", count=len(found))

    async def _rate(
        self, incoming: IncomingMessage, update_row_id: int | None, conversation_id: int, score: int
    ) -> None:
        now = utcnow()
        reply: str | None = None
        async with self._sessions.begin() as session:
            owner = await store.conversation_owner(session, conversation_id)
            if owner is None or (owner.channel, owner.chat_id) != (
                incoming.channel,
                incoming.chat_id,
            ):
                toast = NOT_YOURS
            else:
                window = timedelta(seconds=self._settings.analytics_rating_change_window_seconds)
                result = await store.save_rating(
                    session,
                    conversation_id,
                    owner.customer_id,
                    score,
                    now=now,
                    changeable_after=now - window,
                )
                toast = {
                    store.RatingResult.CREATED: RATING_SAVED,
                    store.RatingResult.CHANGED: RATING_CHANGED,
                    store.RatingResult.LOCKED: RATING_LOCKED,
                }[result]
                if result is store.RatingResult.CREATED:
                    reply = THANKS_FOR_RATING
                    await self._send(session, incoming, reply, f"rated:{conversation_id}")
                if result is store.RatingResult.CREATED or (
                    result is store.RatingResult.CHANGED
                    and not await store.rating_commented(session, conversation_id)
                ):
                    # Like the table says after a restart: a comment given is not replaced.
                    until = now + timedelta(seconds=self._settings.analytics_comment_window_seconds)
                    self._awaiting_comment[(incoming.channel, incoming.chat_id)] = (
                        conversation_id,
                        until,
                    )
                log.info(
                    "analytics.rating",
                    conversation_id=conversation_id,
                    score=score,
                    result=result.value,
                )
            await _processed(session, update_row_id)
        await self._finish(incoming, toast, woke=reply is not None)

    async def _vote(
        self, incoming: IncomingMessage, update_row_id: int | None, message_id: int, helpful: bool
    ) -> None:
        async with self._sessions.begin() as session:
            conversation_id = await store.bot_message_conversation(session, message_id)
            owner = (
                await store.conversation_owner(session, conversation_id)
                if conversation_id is not None
                else None
            )
            if owner is None or (owner.channel, owner.chat_id) != (
                incoming.channel,
                incoming.chat_id,
            ):
                toast = NOT_YOURS
            else:
                await store.save_answer_vote(session, message_id, owner.id, helpful, utcnow())
                toast = VOTE_SAVED
                log.info("analytics.answer_vote", message_id=message_id, helpful=helpful)
            await _processed(session, update_row_id)
        await self._finish(incoming, toast, woke=False)

    async def _comment(self, incoming: IncomingMessage, update_row_id: int | None) -> bool:
        key = (incoming.channel, incoming.chat_id)
        pending = self._awaiting_comment.get(key)
        text = (incoming.text or "").strip()
        if pending is None:
            return False
        conversation_id, until = pending
        if utcnow() > until or not text or text.startswith("/"):
            # A command or a late message is a new request, not a comment.
            self._awaiting_comment.pop(key, None)
            return False
        self._awaiting_comment.pop(key, None)
        async with self._sessions.begin() as session:
            await store.save_comment(session, conversation_id, text[:4000], utcnow())
            await self._send(session, incoming, THANKS_FOR_COMMENT, f"commented:{conversation_id}")
            await _processed(session, update_row_id)
        log.info("analytics.rating_comment", conversation_id=conversation_id)
        await self._finish(incoming, None, woke=True)
        return True

    async def _send(
        self, session: AsyncSession, incoming: IncomingMessage, text: str, dedup: str
    ) -> None:
        outlet = self._outlets.get(incoming.channel)
        if outlet is None:
            return
        await outbox.enqueue(
            session,
            channel=incoming.channel,
            chat_id=incoming.chat_id,
            parts=outlet.render(text),
            dedup_prefix=dedup,
        )

    async def _finish(self, incoming: IncomingMessage, toast: str | None, *, woke: bool) -> None:
        if woke and self._on_outbox is not None and incoming.channel in self._outlets:
            self._on_outbox(incoming.channel)
        callback_id = incoming.extra.get("callback_query_id")
        if toast is None or not callback_id or self._answer_callback is None:
            return
        try:
            await self._answer_callback(str(callback_id), toast)
        except Exception as error:  # the spinner stops by itself; the rating is saved
            log.warning("analytics.callback_answer_failed", error=repr(error))


async def _processed(session: AsyncSession, update_row_id: int | None) -> None:
    if update_row_id is not None:
        await update_store.mark_processed(session, update_row_id)
