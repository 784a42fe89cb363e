"""PTB's HTTP transport on aiohttp: one pooled ClientSession, per-call timeouts.

PTB's default transport (httpx) keeps a single connection for the whole bot, which would
serialise sends to hundreds of chats; aiohttp is also cheaper per request.

An error answer from the Bot API is raised here as `BotAPIError`, with Telegram's status
code and description untouched: PTB's own mapping folds 404 into InvalidToken and 413 into
NetworkError, and rewrites descriptions ("Bad Request: chat not found" -> "Chat not found").
"""

from __future__ import annotations

import json
import re
from typing import Any

import aiohttp
from telegram.error import NetworkError, TelegramError, TimedOut
from telegram.request import BaseRequest, RequestData

# Concurrent connections to the Bot API (aiohttp's default is 100).
MAX_CONNECTIONS = 256
_TOKEN_IN_URL = re.compile(r"/bot[^/\s'\"]+")


class BotAPIError(TelegramError):
    """The Bot API answered with an error: its HTTP status, description and parameters."""

    __slots__ = ("description", "migrate_to_chat_id", "retry_after", "status")

    def __init__(
        self,
        status: int,
        description: str,
        *,
        retry_after: float | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        super().__init__(description)
        self.message = description  # TelegramError strips and recapitalises some prefixes
        self.description = description
        self.status = status
        self.retry_after = retry_after
        self.migrate_to_chat_id = migrate_to_chat_id


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _api_error(status: int, payload: bytes) -> TelegramError:
    try:
        body = json.loads(payload)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        # Not the Bot API talking (a proxy's HTML page...): transient, like a network error.
        return NetworkError(f"HTTP {status}: the answer is not Bot API JSON")
    description = body.get("description")
    if not isinstance(description, str) or not description:
        description = f"HTTP {status}"
    parameters = body.get("parameters")
    parameters = parameters if isinstance(parameters, dict) else {}
    migrate_to = parameters.get("migrate_to_chat_id")
    return BotAPIError(
        status,
        description,
        retry_after=_number(parameters.get("retry_after")),
        migrate_to_chat_id=migrate_to if type(migrate_to) is int and migrate_to else None,
    )


class AiohttpRequest(BaseRequest):
    """A `telegram.request.BaseRequest` on one aiohttp session (created on first use).

    `read_timeout` bounds the whole call (connecting, sending, waiting, reading), as a
    total; `connect_timeout` bounds opening a connection. PTB's write and pool timeouts
    are covered by the total.
    """

    __slots__ = ("_connect_timeout", "_connection_limit", "_read_timeout", "_session")

    def __init__(
        self,
        *,
        read_timeout: float | None = 30.0,
        connect_timeout: float | None = 10.0,
        connection_limit: int = MAX_CONNECTIONS,
    ) -> None:
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._connection_limit = connection_limit
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    def _get_session(self) -> aiohttp.ClientSession:
        # Synchronous, so concurrent first calls cannot create two sessions.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connection_limit),
                headers={"User-Agent": self.USER_AGENT},
            )
        return self._session

    def _pick(self, value: Any, default: float | None) -> float | None:
        return default if value is self.DEFAULT_NONE else value

    @staticmethod
    def parse_json_payload(payload: bytes) -> dict[str, Any]:
        try:
            data = json.loads(payload.decode("utf-8", "replace"))
        except ValueError:
            data = None
        # PTB reads data["result"] next: a KeyError would escape its error classes.
        if not isinstance(data, dict) or "result" not in data:
            raise TelegramError("Invalid server response: no result")
        return data

    async def initialize(self) -> None:
        self._get_session()

    async def shutdown(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,  # float | None | DEFAULT_NONE
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        timeout = aiohttp.ClientTimeout(
            total=self._pick(read_timeout, self._read_timeout),
            sock_connect=self._pick(connect_timeout, self._connect_timeout),
        )
        data: aiohttp.FormData | bytes | None = None
        headers: dict[str, str] = {}
        if request_data is not None and request_data.contains_files:
            form = aiohttp.FormData(request_data.json_parameters)
            for name, (filename, content, mime_type) in request_data.multipart_data.items():
                form.add_field(name, content, filename=filename, content_type=mime_type)
            data = form
        elif request_data is not None:
            # Native JSON types (PTB's form encoding would send every number as a string).
            data = json.dumps(request_data.parameters).encode()
            headers["Content-Type"] = "application/json"
        session = self._get_session()
        try:
            async with session.request(
                method, url, data=data, headers=headers, timeout=timeout
            ) as response:
                status, payload = response.status, await response.read()
        except TimeoutError as exc:
            raise TimedOut(f"Timed out: {method} {url.rsplit('/', 1)[-1]}") from exc
        except aiohttp.ClientError as exc:
            # Some aiohttp errors quote the URL, which holds the bot token.
            raise NetworkError(_TOKEN_IN_URL.sub("/bot<token>", f"aiohttp: {exc!r}")) from exc
        if not 200 <= status <= 299:
            raise _api_error(status, payload)
        return status, payload
