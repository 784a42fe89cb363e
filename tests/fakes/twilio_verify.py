"""The fake Twilio's Verify v2: pending verifications per number, and code checks."""

from __future__ import annotations

import secrets
from collections.abc import Collection
from typing import Any

from tests.fakes.twilio_wire import E164, TwilioError, iso, now

_CHANNELS = {"sms", "call", "email", "whatsapp", "sna", "auto"}
_MAX_CHECKS = 5


class VerifyService:
    def __init__(self, account_sid: str, service_sid: str) -> None:
        self.account_sid = account_sid
        self.service_sid = service_sid
        self._pending: dict[str, dict[str, Any]] = {}  # To -> Verification resource
        self._failed_checks: dict[str, int] = {}

    def start(
        self, params: dict[str, Any], *, invalid_numbers: Collection[str], base_url: str
    ) -> dict[str, Any]:
        to, channel = params.get("To", ""), params.get("Channel", "")
        if channel not in _CHANNELS:
            raise TwilioError(400, 60200, "Invalid parameter `Channel`")
        if channel in ("sms", "call", "whatsapp") and (not E164.match(to) or to in invalid_numbers):
            raise TwilioError(400, 60200, "Invalid parameter `To`")
        started = iso(now())
        attempt = {
            "time": started,
            "channel": channel.upper(),
            "attempt_sid": "VL" + secrets.token_hex(16),
        }
        pending = self._pending.get(to)
        if pending is None:  # a second start while pending resends the same verification
            sid = "VE" + secrets.token_hex(16)
            pending = {
                "sid": sid,
                "service_sid": self.service_sid,
                "account_sid": self.account_sid,
                "to": to,
                "channel": channel,
                "status": "pending",
                "valid": False,
                "date_created": started,
                "date_updated": started,
                "lookup": {},
                "amount": None,
                "payee": None,
                "send_code_attempts": [],
                "sna": None,
                "url": f"{base_url}/v2/Services/{self.service_sid}/Verifications/{sid}",
            }
            self._pending[to] = pending
            self._failed_checks[to] = 0
        pending["send_code_attempts"].append(attempt)
        return _updated(pending)

    def check(self, params: dict[str, Any], *, code: str, path: str) -> dict[str, Any]:
        if "Code" not in params or not {"To", "VerificationSid"} & params.keys():
            raise TwilioError(400, 60200, "Invalid parameter: Code, and To or VerificationSid")
        by_sid = (t for t, v in self._pending.items() if v["sid"] == params.get("VerificationSid"))
        to = params.get("To") or next(by_sid, "")
        pending = self._pending.get(to)
        if pending is None:
            raise TwilioError(404, 20404, f"The requested resource {path} was not found")
        if self._failed_checks[to] >= _MAX_CHECKS:
            raise TwilioError(429, 60202, "Max check attempts reached")
        keys = ("sid", "service_sid", "account_sid", "to", "channel", "amount", "payee")
        result = {key: pending[key] for key in keys}
        result.update(sna_attempts_error_codes=[], date_created=pending["date_created"])
        if params["Code"] == code:
            del self._pending[to]
            return _updated(result, status="approved", valid=True)
        self._failed_checks[to] += 1
        return _updated(result, status="pending", valid=False)


def _updated(resource: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**resource, **changes, "date_updated": iso(now())}
