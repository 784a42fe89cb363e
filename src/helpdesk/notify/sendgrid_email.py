"""Email through SendGrid Mail Send v3 (POST /v3/mail/send), with the official SDK.

The `sendgrid` SDK is synchronous (urllib underneath), so each send runs in a worker
thread: a slow SendGrid must never stall the event loop that serves chats.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import time
from typing import Any

import structlog
from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import From, Mail

from helpdesk.notify.base import (
    DEFAULT_OUTAGE_WAIT,
    DEFAULT_RATE_LIMIT_WAIT,
    NotifyRejected,
    NotifyRetryLater,
    mask_email,
)

log = structlog.get_logger(__name__)


class SendGridEmail:
    """An `EmailSender`. `from_email` may carry a name: "Northwind <help@example.com>"."""

    def __init__(
        self,
        api_key: str,
        from_email: str,
        *,
        api_base: str = "https://api.sendgrid.com",
        timeout: float = 15.0,
    ) -> None:
        self.from_email = from_email
        self._client = SendGridAPIClient(api_key=api_key, host=api_base.rstrip("/"))
        # The SDK has no timeout argument; its HTTP client reads this attribute on
        # every request it builds. Without it a hung connection holds a thread forever.
        self._client.client.timeout = timeout

    async def send_email(
        self, to: str, subject: str, text: str, html: str | None = None
    ) -> str | None:
        """Hand one email to SendGrid; return its X-Message-Id.

        Raises NotifyRetryLater (429, 5xx, network) or NotifyRejected (401 bad key,
        403 unverified sender, 400 invalid message...).
        """
        mail = Mail(
            from_email=From(self.from_email),
            to_emails=to,
            subject=subject,
            plain_text_content=text,
            html_content=html,
        )
        try:
            response = await asyncio.to_thread(self._client.send, mail)
        except HTTPError as exc:
            raise _map_http_error(exc) from exc
        except (OSError, http.client.HTTPException) as exc:
            # URLError, timeouts, refused or reset connections are all OSError here.
            log.warning("sendgrid.unreachable", error=repr(exc))
            raise NotifyRetryLater(
                f"send_email: SendGrid unreachable: {exc!r}", DEFAULT_OUTAGE_WAIT
            ) from exc
        message_id = response.headers.get("X-Message-Id")
        log.info("email.accepted", to=mask_email(to), message_id=message_id)
        return str(message_id) if message_id else None


def _map_http_error(exc: HTTPError) -> NotifyRetryLater | NotifyRejected:
    status = int(exc.status_code)
    detail = f"send_email: SendGrid {status}: {_error_text(exc.body)}"
    if status == 429:
        log.warning("sendgrid.rate_limited", status=status)
        return NotifyRetryLater(detail, _rate_limit_wait(exc.headers))
    if status >= 500:
        log.warning("sendgrid.retry_later", status=status)
        return NotifyRetryLater(detail, DEFAULT_OUTAGE_WAIT)
    log.warning("sendgrid.rejected", status=status, detail=detail)
    return NotifyRejected(detail, status=status)


def _rate_limit_wait(headers: Any) -> float:
    # SendGrid tells when the window resets (epoch seconds), not how long to wait.
    try:
        reset = float(headers.get("X-RateLimit-Reset"))
    except (AttributeError, TypeError, ValueError):
        return DEFAULT_RATE_LIMIT_WAIT
    return max(0.0, reset - time.time())


def _error_text(body: bytes | str | None) -> str:
    if not body:
        return "(no details)"
    raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        errors = json.loads(raw).get("errors") or []
        return "; ".join(
            f"{e.get('field')}: {e.get('message')}" if e.get("field") else str(e.get("message"))
            for e in errors
        )
    except (ValueError, AttributeError):
        return raw[:300]
