"""A thin Bot API client on python-telegram-bot, speaking in two failures: retry later, or rejected.

It never loops on retries itself: the outbox owns durable retries and reschedules a
row using `TelegramRetryLater.retry_after`.

Calls go through PTB's Bot and request machinery, but results come back as the raw JSON
Telegram sent (no model round trip: cheaper, and getUpdates payloads are stored as received).
"""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import structlog
from telegram import Bot
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.warnings import PTBDeprecationWarning

from helpdesk.channels.telegram.parse import ALLOWED_UPDATES
from helpdesk.channels.telegram.ratelimit import RateLimiter
from helpdesk.channels.telegram.render import html_to_plain_text
from helpdesk.channels.telegram.request import AiohttpRequest, BotAPIError

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


class _RawBot(Bot):
    """PTB's Bot with one addition: a call whose result is returned as Telegram sent it."""

    __slots__ = ()

    async def call(self, endpoint: str, params: dict[str, Any], read_timeout: float) -> Any:
        # Bot._post drops None parameters, encodes the rest and raises PTB's errors.
        return await self._post(endpoint, params, read_timeout=read_timeout)


def _retry_after_seconds(exc: RetryAfter) -> float:
    # 22.x holds a timedelta; reading it as an int is deprecated (a warning) unless PTB_TIMEDELTA.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _translate_api_error(exc: BotAPIError) -> TelegramRetryLater | TelegramRejected:
    """An error answer, classified by Telegram's own status code and parameters."""
    text, status = exc.description, exc.status
    if exc.retry_after is not None:
        return TelegramRetryLater(text, exc.retry_after, rate_limited=True)
    if exc.migrate_to_chat_id is not None:
        return TelegramRejected(text, error_code=400, migrate_to_chat_id=exc.migrate_to_chat_id)
    if status == 401:
        log.error("telegram.unauthorized", description=text)
        return TelegramRetryLater(text, UNAUTHORIZED_RETRY_AFTER)
    if status >= 500:
        return TelegramRetryLater(text)
    if status == 409:  # another poller, or a webhook is set
        return TelegramRetryLater(text, 5.0)
    if status in (400, 403, 404, 413):
        return TelegramRejected(text, error_code=status)
    # An unclassified status: keep the message rather than lose it.
    return TelegramRetryLater(text, 5.0)


def _translate(exc: TelegramError) -> TelegramRetryLater | TelegramRejected:
    """Map PTB's errors onto the two outcomes the outbox cares about."""
    if isinstance(exc, BotAPIError):  # what our transport raises for any error answer
        return _translate_api_error(exc)
    # PTB's own classes: raised by the transport (network, timeout) or by another one.
    text = exc.message
    if isinstance(exc, RetryAfter):
        return TelegramRetryLater(text, _retry_after_seconds(exc), rate_limited=True)
    if isinstance(exc, ChatMigrated):
        return TelegramRejected(text, error_code=400, migrate_to_chat_id=exc.new_chat_id)
    if isinstance(exc, InvalidToken):
        log.error("telegram.unauthorized", description=text)
        return TelegramRetryLater(text, UNAUTHORIZED_RETRY_AFTER)
    if isinstance(exc, Conflict):
        return TelegramRetryLater(text, 5.0)
    if isinstance(exc, Forbidden):
        return TelegramRejected(text, error_code=403)
    if isinstance(exc, BadRequest):  # a NetworkError subclass in PTB: test it first
        return TelegramRejected(text, error_code=400)
    if isinstance(exc, NetworkError):  # TimedOut too
        return TelegramRetryLater(text)
    return TelegramRetryLater(text)  # e.g. an answer that is not JSON


class TelegramClient:
    """The Bot API methods the helpdesk needs, against any Bot API server.

    Requests go to `{api_base}/bot{token}/{method}`. The Bot is never `initialize()`d (that
    would cost a getMe at every start): the transport opens its session on first use, and
    `close()` shuts it down.
    """

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
        self._request = AiohttpRequest(read_timeout=request_timeout)
        self._bot = _RawBot(
            token,
            base_url=f"{api_base.rstrip('/')}/bot",
            request=self._request,
            get_updates_request=self._request,
        )
        self._request_timeout = request_timeout
        self.limiter = limiter or RateLimiter(rate_limit, chat_rate_limit)

    @property
    def bot(self) -> Bot:
        """The underlying PTB Bot, for methods this client does not wrap."""
        return self._bot

    async def _call(
        self, endpoint: str, params: dict[str, Any], request_timeout: float | None = None
    ) -> Any:
        timeout = self._request_timeout if request_timeout is None else request_timeout
        try:
            return await self._bot.call(endpoint, params, read_timeout=timeout)
        except TelegramError as exc:
            raise _translate(exc) from exc

    async def send_message(
        self,
        chat_id: int,
        html: str,
        *,
        reply_markup: dict[str, Any] | None = None,
        ready: Callable[[], Awaitable[None]] | None = None,
    ) -> int:
        """Send one HTML message (at most 4096 visible characters: split first).

        Returns Telegram's message_id. If Telegram cannot parse our entities, the text
        is sent once more as plain text, so a reply never fails on markup alone.
        `ready` is awaited after the rate-limit wait, right before the request; whatever
        it raises is the caller's refusal and propagates untouched, nothing sent.
        """
        if not html.strip():
            raise TelegramRejected("message text is empty", error_code=400)
        params = self._send_message_params(chat_id, html, "HTML", reply_markup)
        await self.limiter.acquire(chat_id)
        if ready is not None:
            # After the wait, not before: the wait can take seconds, and what the caller
            # checks (a campaign cancelled, consent withdrawn) can change meanwhile.
            await ready()
        try:
            message = await self._call("sendMessage", params)
        except TelegramRejected as exc:
            if "can't parse entities" not in exc.description.lower():
                raise
            log.warning("telegram.entities_rejected", chat_id=chat_id, description=exc.description)
            plain = html_to_plain_text(html)
            if not plain.strip():
                raise
            # The first attempt delivered nothing, so it needs no second rate-limit slot.
            fallback = self._send_message_params(chat_id, plain, None, reply_markup)
            message = await self._call("sendMessage", fallback)
        message_id = message.get("message_id") if isinstance(message, dict) else None
        if not isinstance(message_id, int):
            # Sent, but the answer is odd: a retry may duplicate, losing it would be worse.
            raise TelegramRetryLater(f"sendMessage answered without a message_id: {message!r}")
        return message_id

    @staticmethod
    def _send_message_params(
        chat_id: int, text: str, parse_mode: str | None, reply_markup: dict[str, Any] | None
    ) -> dict[str, Any]:
        return {
            "chat_id": chat_id,
            "text": text,
            "parse_mode": parse_mode,  # None parameters are not sent
            "link_preview_options": {"is_disabled": True},
            # As given: Telegram picks the markup type from its keys (and refuses a bad one).
            "reply_markup": reply_markup,
        }

    async def send_typing(self, chat_id: int) -> None:
        """Show "typing…" (lasts ~5 s on Telegram). Best effort: never raises."""
        try:
            await self._call("sendChatAction", {"chat_id": chat_id, "action": "typing"})
        except (TelegramRetryLater, TelegramRejected) as exc:
            log.info("telegram.typing_failed", chat_id=chat_id, error=str(exc))
        except Exception:
            log.exception("telegram.typing_failed", chat_id=chat_id)

    async def answer_callback(self, callback_query_id: str, text: str | None = None) -> None:
        """Stop a tapped inline button's spinner, with an optional short notice."""
        params = {"callback_query_id": callback_query_id, "text": text}
        await self._call("answerCallbackQuery", params)

    async def get_updates(
        self,
        offset: int | None,
        timeout: int,
        *,
        limit: int = 100,
        allowed_updates: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Long-poll for raw update payloads (as Telegram sent them)."""
        params = {
            "offset": offset,
            "limit": limit,
            "timeout": timeout,
            "allowed_updates": ALLOWED_UPDATES if allowed_updates is None else allowed_updates,
        }
        # The HTTP timeout must outlast the long poll, or every idle poll is an "error".
        result = await self._call("getUpdates", params, self._request_timeout + timeout)
        if not isinstance(result, list):
            raise TelegramRetryLater(f"getUpdates answered {type(result).__name__}, not a list")
        return result

    async def set_webhook(self, url: str, secret: str, allowed_updates: list[str]) -> None:
        params = {"url": url, "secret_token": secret, "allowed_updates": allowed_updates}
        await self._call("setWebhook", params)

    async def delete_webhook(self) -> None:
        await self._call("deleteWebhook", {})

    async def get_me(self) -> dict[str, Any]:
        result = await self._call("getMe", {})
        if not isinstance(result, dict):
            raise TelegramRetryLater(f"getMe answered {type(result).__name__}, not an object")
        return result

    async def close(self) -> None:
        await self._bot.shutdown()  # a no-op unless someone initialize()d the Bot
        await self._request.shutdown()
