"""A thin Bot API client on aiogram, speaking in two failures: retry later, or rejected.

It never loops on retries itself: the outbox owns durable retries and reschedules a
row using `TelegramRetryLater.retry_after`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import structlog
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    AiogramError,
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import AnswerCallbackQuery, SendChatAction, SendMessage
from aiogram.methods.base import TelegramMethod
from aiogram.types import LinkPreviewOptions
from pydantic import ValidationError

from helpdesk.channels.telegram.parse import ALLOWED_UPDATES
from helpdesk.channels.telegram.ratelimit import RateLimiter
from helpdesk.channels.telegram.render import html_to_plain_text

log = structlog.get_logger(__name__)

# A suggested first backoff for transient failures; the caller grows it.
DEFAULT_RETRY_AFTER = 1.0
# A wrong token will not fix itself soon; keep messages queued, but don't hammer.
UNAUTHORIZED_RETRY_AFTER = 60.0


class TelegramRetryLater(Exception):
    """Transient: 429, 5xx, network error or timeout. Try again after `retry_after` s.

    `rate_limited` is True for a 429: then `retry_after` is Telegram's own order and
    must be honoured as is; otherwise it is only a suggested first backoff.
    """

    def __init__(
        self,
        description: str,
        retry_after: float = DEFAULT_RETRY_AFTER,
        *,
        rate_limited: bool = False,
    ) -> None:
        super().__init__(description)
        self.description = description
        self.retry_after = float(retry_after)
        self.rate_limited = rate_limited


class TelegramRejected(Exception):
    """Permanent for this request: bad request, bot blocked, chat not found..."""

    def __init__(
        self,
        description: str,
        *,
        error_code: int | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        super().__init__(description)
        self.description = description
        self.error_code = error_code
        # Set when a group became a supergroup: resend to this chat id instead.
        self.migrate_to_chat_id = migrate_to_chat_id


class _RawGetUpdates(TelegramMethod[list[dict[str, Any]]]):
    """getUpdates returning the updates exactly as Telegram sent them.

    They are stored as received, so no round trip through aiogram's models
    (which would drop nothing today, but would re-encode dates and unknown fields).
    """

    __returning__: ClassVar[Any] = list[dict[str, Any]]
    __api_method__: ClassVar[str] = "getUpdates"

    offset: int | None = None
    limit: int | None = None
    timeout: int | None = None
    allowed_updates: list[str] | None = None


class _RawGetMe(TelegramMethod[dict[str, Any]]):
    __returning__: ClassVar[Any] = dict[str, Any]
    __api_method__: ClassVar[str] = "getMe"


def _translate(exc: AiogramError) -> TelegramRetryLater | TelegramRejected:
    """Map aiogram's exception zoo onto the two outcomes the outbox cares about."""
    text = str(exc.message) if isinstance(exc, TelegramAPIError) else str(exc)
    if isinstance(exc, TelegramRetryAfter):
        return TelegramRetryLater(text, exc.retry_after, rate_limited=True)
    if isinstance(exc, TelegramMigrateToChat):
        return TelegramRejected(text, error_code=400, migrate_to_chat_id=exc.migrate_to_chat_id)
    if isinstance(exc, TelegramUnauthorizedError):
        log.error("telegram.unauthorized", description=text)
        return TelegramRetryLater(text, UNAUTHORIZED_RETRY_AFTER)
    if isinstance(exc, TelegramEntityTooLarge):
        return TelegramRejected(text, error_code=413)
    if isinstance(exc, TelegramNetworkError | TelegramServerError | ClientDecodeError):
        return TelegramRetryLater(text)
    if isinstance(exc, TelegramConflictError):  # another poller, or a webhook is set
        return TelegramRetryLater(text, 5.0)
    if isinstance(exc, TelegramBadRequest):
        return TelegramRejected(text, error_code=400)
    if isinstance(exc, TelegramForbiddenError):
        return TelegramRejected(text, error_code=403)
    if isinstance(exc, TelegramNotFound):
        return TelegramRejected(text, error_code=404)
    # An unclassified status: keep the message rather than lose it.
    return TelegramRetryLater(text, 5.0)


class TelegramClient:
    """The Bot API methods the helpdesk needs, against any Bot API server."""

    def __init__(
        self,
        token: str,
        api_base: str,
        *,
        rate_limit: float = 30.0,
        chat_rate_limit: float = 1.0,
        request_timeout: float = 30.0,
        limiter: RateLimiter | None = None,
    ) -> None:
        session = AiohttpSession(api=TelegramAPIServer.from_base(api_base), timeout=request_timeout)
        self._bot = Bot(token, session=session)
        self._request_timeout = request_timeout
        self.limiter = limiter or RateLimiter(rate_limit, chat_rate_limit)

    @property
    def bot(self) -> Bot:
        """The underlying aiogram Bot, for methods this client does not wrap."""
        return self._bot

    async def _call(self, method: TelegramMethod[Any], request_timeout: float | None = None) -> Any:
        timeout = None if request_timeout is None else int(request_timeout)
        try:
            return await self._bot(method, request_timeout=timeout)
        except AiogramError as exc:
            raise _translate(exc) from exc

    async def send_message(
        self, chat_id: int, html: str, *, reply_markup: dict[str, Any] | None = None
    ) -> int:
        """Send one HTML message (at most 4096 visible characters: split first).

        Returns Telegram's message_id. If Telegram cannot parse our entities, the text
        is sent once more as plain text, so a reply never fails on markup alone.
        """
        if not html.strip():
            raise TelegramRejected("message text is empty", error_code=400)
        method = self._send_message_method(chat_id, html, "HTML", reply_markup)
        await self.limiter.acquire(chat_id)
        try:
            message = await self._call(method)
        except TelegramRejected as exc:
            if "can't parse entities" not in exc.description.lower():
                raise
            log.warning("telegram.entities_rejected", chat_id=chat_id, description=exc.description)
            plain = html_to_plain_text(html)
            if not plain.strip():
                raise
            # The first attempt delivered nothing, so it needs no second rate-limit slot.
            fallback = self._send_message_method(chat_id, plain, None, reply_markup)
            message = await self._call(fallback)
        return int(message.message_id)

    @staticmethod
    def _send_message_method(
        chat_id: int, text: str, parse_mode: str | None, reply_markup: dict[str, Any] | None
    ) -> SendMessage:
        try:
            return SendMessage(
                chat_id=chat_id,
                text=text,
                parse_mode=parse_mode,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                # A plain dict: pydantic picks the markup type from its keys.
                reply_markup=reply_markup,  # type: ignore[arg-type]
            )
        except ValidationError as exc:  # a bad keyboard is our bug: retrying won't fix it
            raise TelegramRejected(f"invalid sendMessage parameters: {exc}") from exc

    async def send_typing(self, chat_id: int) -> None:
        """Show "typing…" (lasts ~5 s on Telegram). Best effort: never raises."""
        try:
            await self._call(SendChatAction(chat_id=chat_id, action="typing"))
        except (TelegramRetryLater, TelegramRejected) as exc:
            log.info("telegram.typing_failed", chat_id=chat_id, error=str(exc))
        except Exception:
            log.exception("telegram.typing_failed", chat_id=chat_id)

    async def answer_callback(self, callback_query_id: str, text: str | None = None) -> None:
        """Stop a tapped inline button's spinner, with an optional short notice."""
        await self._call(AnswerCallbackQuery(callback_query_id=callback_query_id, text=text))

    async def get_updates(
        self,
        offset: int | None,
        timeout: int,
        *,
        limit: int = 100,
        allowed_updates: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Long-poll for raw update payloads (as Telegram sent them)."""
        method = _RawGetUpdates(
            offset=offset,
            limit=limit,
            timeout=timeout,
            allowed_updates=ALLOWED_UPDATES if allowed_updates is None else allowed_updates,
        )
        # The HTTP timeout must outlast the long poll, or every idle poll is an "error".
        result: list[dict[str, Any]] = await self._call(method, self._request_timeout + timeout)
        return result

    async def set_webhook(self, url: str, secret: str, allowed_updates: list[str]) -> None:
        try:
            await self._bot.set_webhook(
                url=url, secret_token=secret, allowed_updates=allowed_updates
            )
        except AiogramError as exc:
            raise _translate(exc) from exc

    async def delete_webhook(self) -> None:
        try:
            await self._bot.delete_webhook()
        except AiogramError as exc:
            raise _translate(exc) from exc

    async def get_me(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(_RawGetMe())
        return result

    async def close(self) -> None:
        await self._bot.session.close()
