"""The Twilio SDK client both Twilio adapters share, and its error mapping.

We give the SDK our own asynchronous HTTP client instead of its
`AsyncTwilioHttpClient` because that one passes `auth=BasicAuth(...)` to aiohttp,
which aiohttp 3.14 deprecates (a DeprecationWarning on every request, fatal under
`-W error`; so is `BasicAuth` itself). We send the Authorization header ourselves.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import email.utils
import logging
import time
from typing import Any

import aiohttp
import structlog
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http import AsyncHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from helpdesk.notify.base import (
    DEFAULT_OUTAGE_WAIT,
    DEFAULT_RATE_LIMIT_WAIT,
    NotifyError,
    NotifyRejected,
    NotifyRetryLater,
)

log = structlog.get_logger(__name__)

# The SDK turns error answers into TwilioRestException without their headers, so the
# HTTP client leaves Retry-After here. A ContextVar because one client serves many
# concurrent sends; each is its own task and sees only its own answer.
_retry_after: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "twilio_retry_after", default=None
)


# twilio ships no type information, so its base class is Any to mypy.
class AiohttpTwilioHttpClient(AsyncHttpClient):  # type: ignore[misc]
    """aiohttp transport for the Twilio SDK: pooled, with a total timeout per request."""

    def __init__(self, timeout: float = 15.0) -> None:
        super().__init__(logging.getLogger("twilio.http"), is_async=True, timeout=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        # A session is bound to the loop it was made in (tests may run several loops).
        if self._session is None or self._session.closed or self._loop is not loop:
            self._session = aiohttp.ClientSession()
            self._loop = loop
        return self._session

    async def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        request_headers = dict(headers or {})
        if auth is not None:
            credentials = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            request_headers["Authorization"] = f"Basic {credentials}"
        total = timeout if timeout is not None else self.timeout
        _retry_after.set(None)
        async with self._get_session().request(
            method.upper(),
            uri,
            params=params,  # type: ignore[arg-type]
            data=data,
            headers=request_headers,
            timeout=aiohttp.ClientTimeout(total=total),
            allow_redirects=allow_redirects,
        ) as response:
            text = await response.text()
            if response.status >= 400:
                _retry_after.set(parse_retry_after(response.headers.get("Retry-After")))
            return Response(response.status, text, dict(response.headers))

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def make_client(
    account_sid: str,
    auth_token: str,
    http_client: AiohttpTwilioHttpClient,
    *,
    api_base: str | None = None,
    verify_api_base: str | None = None,
) -> Client:
    client = Client(account_sid, auth_token, http_client=http_client)
    # TWILIO_EDGE / TWILIO_REGION in the environment would rewrite every host name and
    # bypass the base URLs we were configured with.
    client.edge = None
    client.region = None
    if api_base is not None:
        client.api.base_url = api_base.rstrip("/")
    if verify_api_base is not None:
        client.verify.base_url = verify_api_base.rstrip("/")
    return client


def map_error(
    exc: BaseException, action: str, *, permanent_codes: frozenset[int] = frozenset()
) -> NotifyError:
    """Our two outcomes for whatever the SDK or the network raised.

    `permanent_codes`: Twilio codes that are final even when sent with a 429.
    """
    if isinstance(exc, (TwilioRestException, TwilioServiceException)):
        status, code = int(exc.status), _int_or_none(exc.code)
        text = exc.msg if isinstance(exc, TwilioRestException) else exc.detail or exc.title
        detail = f"{action}: Twilio {status} (code {code}): {text}"
        if (status == 429 or status >= 500) and code not in permanent_codes:
            hinted = _retry_after.get()
            default = DEFAULT_RATE_LIMIT_WAIT if status == 429 else DEFAULT_OUTAGE_WAIT
            log.warning("twilio.retry_later", action=action, status=status, code=code)
            return NotifyRetryLater(detail, hinted if hinted is not None else default)
        log.warning("twilio.rejected", action=action, status=status, code=code)
        return NotifyRejected(detail, code=code, status=status)
    if isinstance(exc, (aiohttp.ClientError, TimeoutError, OSError)):
        log.warning("twilio.unreachable", action=action, error=repr(exc))
        return NotifyRetryLater(f"{action}: Twilio unreachable: {exc!r}", DEFAULT_OUTAGE_WAIT)
    raise TypeError(f"not a Twilio or network error: {exc!r}") from exc


# What map_error understands; anything else is a bug and should propagate.
TWILIO_ERRORS: tuple[type[BaseException], ...] = (
    TwilioRestException,
    TwilioServiceException,
    aiohttp.ClientError,
    TimeoutError,
    OSError,
)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
