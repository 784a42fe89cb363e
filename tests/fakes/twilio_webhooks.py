"""What the fake Twilio POSTs to our webhooks: status callbacks and incoming SMS, signed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from typing import Any

import aiohttp

from helpdesk.notify.templates import sms_segments


def twilio_signature(url: str, params: dict[str, str], auth_token: str) -> str:
    """X-Twilio-Signature as Twilio computes it (written from Twilio's docs, not the SDK,
    so the SDK's validator is checked against an independent implementation)."""
    payload = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def status_callback_params(
    account_sid: str, resource: dict[str, Any], status: str, error_code: str | None
) -> dict[str, str]:
    sid = resource["sid"]
    params = {
        "AccountSid": account_sid,
        "ApiVersion": "2010-04-01",
        "From": resource["from"],
        "MessageSid": sid,
        "MessageStatus": status,
        "SmsSid": sid,
        "SmsStatus": status,
        "To": resource["to"],
    }
    if status in ("failed", "undelivered"):
        params["ErrorCode"] = error_code or "30003"  # 30003: unreachable handset
    return params


def inbound_sms_params(
    account_sid: str, from_: str, body: str, *, to: str, opt_out_type: str | None
) -> dict[str, str]:
    """The form fields of Twilio's "incoming message" webhook."""
    sid = "SM" + secrets.token_hex(16)
    _, segments = sms_segments(body)
    params = {
        "AccountSid": account_sid,
        "ApiVersion": "2010-04-01",
        "Body": body,
        "From": from_,
        "FromCountry": "US",
        "MessageSid": sid,
        "NumMedia": "0",
        "NumSegments": str(segments or 1),
        "SmsMessageSid": sid,
        "SmsSid": sid,
        "SmsStatus": "received",
        "To": to,
        "ToCountry": "US",
    }
    if opt_out_type is not None:
        params["OptOutType"] = opt_out_type
    return params


async def post_webhook(
    url: str, params: dict[str, str], auth_token: str, *, sign: bool
) -> tuple[int, str]:
    """POST `params` as Twilio does (its headers, signed unless `sign` is false);
    return the HTTP status and body."""
    headers = {"User-Agent": "TwilioProxy/1.1", "I-Twilio-Idempotency-Token": str(uuid.uuid4())}
    if sign:
        headers["X-Twilio-Signature"] = twilio_signature(url, params, auth_token)
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=params, headers=headers) as response,
    ):
        return response.status, await response.text()
