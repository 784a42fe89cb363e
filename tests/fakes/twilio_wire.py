"""What the fake Twilio's Messaging and Verify APIs share: the error body, E.164, time."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from aiohttp import web

E164 = re.compile(r"^\+[1-9]\d{6,14}$")


class TwilioError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self, headers: dict[str, str] | None = None) -> web.Response:
        body = {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }
        return web.json_response(body, status=self.status, headers=headers)


def now() -> datetime:
    # Twilio's timestamps have whole seconds.
    return datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime) -> str:
    """Verify's timestamp format (Messaging uses RFC 2822 instead)."""
    return moment.isoformat().replace("+00:00", "Z")
