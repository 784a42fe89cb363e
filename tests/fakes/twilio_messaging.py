"""The fake Twilio's Messages API: what it refuses, and the Message resource it answers."""

from __future__ import annotations

import email.utils
import re
import secrets
from collections.abc import Collection
from typing import Any

from helpdesk.notify.templates import sms_segments
from tests.fakes.twilio_wire import E164, TwilioError, now

_ALPHANUMERIC_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")


def check_message(
    params: dict[str, Any], *, invalid_numbers: Collection[str], opted_out: Collection[str]
) -> None:
    """Raise what Twilio answers to a create-message request the schema cannot catch."""
    to, sender, body = params.get("To", ""), params.get("From"), params.get("Body")
    if not E164.match(to) or to in invalid_numbers:
        raise TwilioError(400, 21211, f"Invalid 'To' Phone Number: {to[:-4]}XXXX")
    if sender is None and "MessagingServiceSid" not in params:
        raise TwilioError(400, 21603, "A 'From' phone number is required.")
    if sender is not None and not (
        E164.match(sender) or _ALPHANUMERIC_SENDER.match(sender) or sender.isdigit()
    ):
        raise TwilioError(400, 21212, f"Invalid From Number (caller ID): {sender}")
    if sender == to:
        raise TwilioError(400, 21266, "'To' and 'From' number cannot be the same")
    if not body and "MediaUrl" not in params and "ContentSid" not in params:
        raise TwilioError(400, 21602, "Message body is required.")
    if body and len(body) > 1600:
        raise TwilioError(
            400, 21617, "The concatenated message body exceeds the 1600 character limit."
        )
    callback = params.get("StatusCallback")
    if callback is not None and not re.match(r"^https?://[^/_\s]+(/\S*)?$", callback):
        raise TwilioError(400, 21609, f"Invalid StatusCallback url: {callback}")
    if to in opted_out:
        raise TwilioError(400, 21610, "Attempt to send to unsubscribed recipient")


def message_resource(params: dict[str, Any], account_sid: str) -> dict[str, Any]:
    """A new queued Message, as the create request answers it (and GET returns it)."""
    body = params.get("Body")
    sid = "SM" + secrets.token_hex(16)
    created = email.utils.format_datetime(now())
    base = f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}"
    return {
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "body": body or "",
        "date_created": created,
        "date_sent": None,
        "date_updated": created,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": params.get("From"),
        "messaging_service_sid": params.get("MessagingServiceSid"),
        "num_media": "0",
        "num_segments": str(sms_segments(body or "")[1] or 1),
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": "queued",
        "subresource_uris": {"media": f"{base}/Media.json"},
        "to": params.get("To", ""),
        "uri": f"{base}.json",
    }
