"""A fake Telegram Bot API server: real HTTP on loopback, Telegram-shaped answers.

    async with FakeTelegram() as tg:
        client = TelegramClient(tg.token, tg.base_url)
        tg.push_update(tg_text_update(1, chat_id=42, text="hi"))
        ...
        assert tg.sent_messages(42)[0]["text"] == "..."
        assert not tg.spec_violations

Every request is checked against the Bot API spec (method, required and unknown
parameters, parameter types); sendMessage validates text and HTML like Telegram.
Updates reach the bot through telegram_delivery.py (getUpdates or a webhook).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.http_fake import HttpFake, drop_connection
from tests.fakes.telegram_delivery import UpdateDelivery
from tests.fakes.telegram_spec import (
    CHAT_ACTIONS,
    ERROR_TEXT,
    ApiError,
    EntityParseError,
    check_request,
    find_method,
    parse_telegram_html,
    utf16_length,
)


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]
    at: float  # time.monotonic()
    status: int = 200
    result: Any = None  # the result, or the error description


@dataclass
class _Failure:
    status: int
    retry_after: int | None
    description: str | None
    delay: float = 0.0


class FakeTelegram(HttpFake):
    def __init__(
        self,
        token: str = "123456:TEST",
        *,
        spec_check: bool = True,
        bot_username: str = "helpdesk_test_bot",
    ) -> None:
        super().__init__()
        self.token = token
        self.spec_check = spec_check
        self.calls: list[Call] = []
        self.spec_violations: list[str] = []
        self.blocked_chats: set[int] = set()
        self.bot_user = {
            "id": int(token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": "Helpdesk Test Bot",
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self._delivery = UpdateDelivery()
        self._failures: dict[str, deque[_Failure]] = {}
        self._message_ids: dict[int, int] = {}
        self._sent: list[dict[str, Any]] = []
        # Called with each delivered sendMessage: lets a load test wait per chat without
        # rescanning every message sent so far.
        self.message_listeners: list[Callable[[dict[str, Any]], None]] = []

    # ---- lifecycle -----------------------------------------------------------------------

    def _routes(self, router: web.UrlDispatcher) -> None:
        find_method("getMe")  # fail fast if the spec cannot be found
        router.add_route("*", "/bot{token}/{method}", self._dispatch)

    async def stop(self) -> None:
        self._delivery.close()
        await super().stop()

    # ---- test controls -------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int | None = 1,
        times: int = 1,
        description: str | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer the next `times` calls of `method` with a Telegram-shaped error.

        status=0 drops the connection without an answer (a network error);
        `delay` holds the answer that long first (to provoke client timeouts).
        retry_after is sent (in `parameters`) with 429 only, as Telegram does.
        Calls add up (429 then 500...); times=0 clears what is queued: "recovered".
        """
        queue = self._failures.setdefault(method.lower(), deque())
        if times == 0:
            queue.clear()
        for _ in range(times):
            queue.append(
                _Failure(status, retry_after if status == 429 else None, description, delay)
            )

    def block_chat(self, chat_id: int) -> None:
        """The user blocked the bot: sends to this chat get 403 from now on."""
        self.blocked_chats.add(chat_id)

    def push_update(self, update: dict[str, Any]) -> None:
        """Queue an update for getUpdates (update_id assigned if missing)."""
        self._delivery.push(update)

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by a getUpdates with a higher offset."""
        return self._delivery.pending

    @property
    def webhook(self) -> dict[str, Any] | None:
        """The last setWebhook's parameters; None when no webhook is set."""
        return self._delivery.webhook

    def sent_messages(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        return [m for m in self._sent if chat_id is None or m.get("chat_id") == chat_id]

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method.lower() == method.lower()]

    async def wait_for_messages(
        self, count: int, *, chat_id: int | None = None, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Wait until at least `count` messages were sent (to `chat_id`); return them all."""
        return await self._wait_for(
            count,
            lambda: self.sent_messages(chat_id),
            timeout=timeout,
            what=f"message(s) to chat {chat_id}",
            shown="text",
        )

    # ---- HTTP ----------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return web.json_response(ApiError(401, "Unauthorized").body(), status=401)
        try:
            raw = await self._read_params(request)
        except ApiError as exc:
            return web.json_response(exc.body(), status=exc.status)
        params, problems = check_request(method, raw)
        at = time.monotonic()
        spec_method = find_method(method)
        if spec_method is None:
            self.spec_violations.extend(problems)
            error = ApiError(404, "Not Found")
        elif problems and self.spec_check:
            self.spec_violations.extend(problems)
            error = ApiError(400, f"Bad Request: {problems[0]}")
        else:
            method = spec_method["name"]
            error = None
        if error is not None:
            self.calls.append(Call(method, params, at, error.status, error.description))
            return web.json_response(error.body(), status=error.status)

        failure = self._next_failure(method)
        if failure is not None:
            if failure.delay:
                await asyncio.sleep(failure.delay)
            if failure.status == 0:
                self.calls.append(Call(method, params, at, 0, "connection dropped"))
                return drop_connection(request)
            if failure.status == 200:
                failure = None
            else:
                text = failure.description or ERROR_TEXT.get(failure.status, "Error")
                if failure.status == 429 and failure.description is None:
                    text = f"Too Many Requests: retry after {failure.retry_after}"
                error = ApiError(failure.status, text, failure.retry_after)
                self.calls.append(Call(method, params, at, error.status, error.description))
                return web.json_response(error.body(), status=error.status)

        call_index = len(self.calls)
        self.calls.append(Call(method, params, at))
        try:
            result = await self._handle(method, params)
        except ApiError as exc:
            self.calls[call_index] = Call(method, params, at, exc.status, exc.description)
            return web.json_response(exc.body(), status=exc.status)
        self.calls[call_index] = Call(method, params, at, 200, result)
        return web.json_response({"ok": True, "result": result})

    async def _read_params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except ValueError as exc:
                    raise ApiError(400, "Bad Request: invalid JSON body") from exc
                if not isinstance(body, dict):
                    raise ApiError(400, "Bad Request: JSON body must be an object")
                params.update(body)
            else:
                form = await request.post()
                for key, value in form.items():
                    params[key] = (
                        value
                        if isinstance(value, str)
                        else f"<file {getattr(value, 'filename', key)}>"
                    )
        return params

    def _next_failure(self, method: str) -> _Failure | None:
        queue = self._failures.get(method.lower())
        return queue.popleft() if queue else None

    async def _handle(self, method: str, params: dict[str, Any]) -> Any:
        if method == "sendMessage":
            return self._send_message(params)
        if method == "sendChatAction":
            self._check_chat(params["chat_id"])
            if params["action"] not in CHAT_ACTIONS:
                raise ApiError(400, "Bad Request: wrong parameter action in request")
            return True
        if method == "getUpdates":
            return await self._delivery.get_updates(params)
        if method == "getMe":
            return dict(self.bot_user)
        if method == "setWebhook":
            return self._delivery.set_webhook(params)
        if method == "deleteWebhook":
            return self._delivery.delete_webhook(params)
        if method == "getWebhookInfo":
            return self._delivery.webhook_info()
        if method == "answerCallbackQuery":
            return True
        raise ApiError(404, f"Not Found: FakeTelegram does not implement {method}")

    def _check_chat(self, chat_id: Any) -> int:
        if not isinstance(chat_id, int):
            raise ApiError(400, "Bad Request: chat not found")
        if chat_id in self.blocked_chats:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat_id

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._check_chat(params["chat_id"])
        text = params["text"]
        parse_mode = params.get("parse_mode")
        if parse_mode is None or parse_mode == "":
            visible = text
        elif parse_mode.lower() == "html":
            try:
                visible = parse_telegram_html(text)
            except EntityParseError as exc:
                raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from exc
        elif parse_mode.lower() in ("markdown", "markdownv2"):
            visible = text  # not modelled: the helpdesk sends HTML
        else:
            raise ApiError(400, f"Bad Request: unsupported parse_mode {parse_mode!r}")
        visible = visible.strip()
        if not visible:
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_length(visible) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        message_id = self._message_ids.get(chat_id, 0) + 1
        self._message_ids[chat_id] = message_id
        chat: dict[str, Any] = {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"}
        if chat_id < 0:
            chat["title"] = f"Group {chat_id}"
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": dict(self.bot_user),
            "chat": chat,
            "date": int(time.time()),
            "text": visible,
        }
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        self._record(self._sent, dict(params))
        for listener in self.message_listeners:
            listener(dict(params))
        return message
