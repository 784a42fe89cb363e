"""Notifications: SMS (Twilio), one-time codes (Twilio Verify) and email (SendGrid).

The rest of the helpdesk talks to `SmsSender` / `EmailSender` / `PhoneVerifier` and
handles `NotifyRetryLater` / `NotifyRejected`. The SDK adapters are imported only
when asked for, so importing this package does not load twilio or sendgrid.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from helpdesk.notify.base import (
    EmailSender,
    NotifyError,
    NotifyRejected,
    NotifyRetryLater,
    PhoneVerifier,
    SmsSender,
)
from helpdesk.notify.templates import sms_segments

if TYPE_CHECKING:
    from helpdesk.config import Settings
    from helpdesk.notify.sendgrid_email import SendGridEmail
    from helpdesk.notify.signature import twilio_signature_valid
    from helpdesk.notify.twilio_sms import TwilioSms
    from helpdesk.notify.twilio_verify import TwilioVerify

__all__ = [
    "EmailSender",
    "NotifyError",
    "NotifyRejected",
    "NotifyRetryLater",
    "PhoneVerifier",
    "SendGridEmail",
    "SmsSender",
    "TwilioSms",
    "TwilioVerify",
    "build_senders",
    "build_verifier",
    "close_senders",
    "sms_segments",
    "twilio_signature_valid",
]

_LAZY = {
    "SendGridEmail": "helpdesk.notify.sendgrid_email",
    "TwilioSms": "helpdesk.notify.twilio_sms",
    "TwilioVerify": "helpdesk.notify.twilio_verify",
    "twilio_signature_valid": "helpdesk.notify.signature",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_senders(settings: Settings) -> tuple[SmsSender | None, EmailSender | None]:
    """The configured senders; None for a channel whose settings are incomplete."""
    sms: SmsSender | None = None
    email: EmailSender | None = None
    if settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from:
        from helpdesk.notify.twilio_sms import TwilioSms

        sms = TwilioSms(
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            settings.twilio_from,
            api_base=settings.twilio_api_base,
        )
    if settings.sendgrid_api_key and settings.sendgrid_from:
        from helpdesk.notify.sendgrid_email import SendGridEmail

        email = SendGridEmail(
            settings.sendgrid_api_key, settings.sendgrid_from, api_base=settings.sendgrid_api_base
        )
    return sms, email


def build_verifier(settings: Settings) -> PhoneVerifier | None:
    """Twilio Verify when its account and service are configured, else None."""
    if not (
        settings.twilio_account_sid
        and settings.twilio_auth_token
        and settings.twilio_verify_service_sid
    ):
        return None
    from helpdesk.notify.twilio_verify import TwilioVerify

    return TwilioVerify(
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        settings.twilio_verify_service_sid,
        verify_api_base=settings.twilio_verify_api_base,
    )


async def close_senders(*senders: object) -> None:
    """Release what the senders hold (pooled connections); safe on None and twice."""
    for sender in senders:
        close = getattr(sender, "aclose", None)
        if close is not None:
            await close()
