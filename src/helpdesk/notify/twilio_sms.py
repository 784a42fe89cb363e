"""SMS through Twilio Programmable Messaging, with the official `twilio` SDK.

POST /2010-04-01/Accounts/{AccountSid}/Messages.json (To, From, Body, StatusCallback).
Twilio only queues the message here; delivery arrives later on the status callback.
"""

from __future__ import annotations

import structlog

from helpdesk.notify._twilio_http import (
    TWILIO_ERRORS,
    AiohttpTwilioHttpClient,
    make_client,
    map_error,
)
from helpdesk.notify.base import mask_phone

log = structlog.get_logger(__name__)


class TwilioSms:
    """An `SmsSender`. Call `aclose()` at shutdown to release pooled connections."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_: str,
        *,
        api_base: str = "https://api.twilio.com",
        timeout: float = 15.0,
    ) -> None:
        self.from_ = from_
        self._http = AiohttpTwilioHttpClient(timeout=timeout)
        self._client = make_client(account_sid, auth_token, self._http, api_base=api_base)

    async def send_sms(self, to: str, body: str, *, status_callback: str | None = None) -> str:
        """Queue `body` for `to`; return the message SID ("SM...").

        Raises NotifyRetryLater (429, 5xx, network) or NotifyRejected (anything else,
        e.g. code 21211 for an invalid number or 21610 for a number that sent STOP).
        """
        # Keyword arguments left out stay unset: the SDK then sends no such parameter.
        extra: dict[str, str] = {}
        if status_callback is not None:
            extra["status_callback"] = status_callback
        try:
            message = await self._client.api.v2010.account.messages.create_async(
                to=to, from_=self.from_, body=body, **extra
            )
        except TWILIO_ERRORS as exc:
            raise map_error(exc, "send_sms") from exc
        log.info(
            "sms.queued",
            sid=message.sid,
            to=mask_phone(to),
            status=message.status,
            segments=message.num_segments,
        )
        return str(message.sid)

    async def aclose(self) -> None:
        await self._http.close()
