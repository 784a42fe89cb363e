"""What the rest of the helpdesk sees of notifications: two protocols and two errors.

Domain code depends on this module only; the SDK adapters live beside it and are
imported lazily, so nothing here pulls in twilio or sendgrid.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

# Hints for the outbox when the provider did not say how long to wait.
DEFAULT_RATE_LIMIT_WAIT = 2.0
DEFAULT_OUTAGE_WAIT = 10.0


class NotifyError(Exception):
    """Base of the two outcomes a caller must tell apart."""


class NotifyRetryLater(NotifyError):
    """Temporary: rate limited (429), provider error (5xx) or network trouble.

    Sending the same notification again after `retry_after` seconds may succeed.
    """

    def __init__(self, message: str, retry_after: float = DEFAULT_OUTAGE_WAIT) -> None:
        super().__init__(message)
        self.retry_after = max(0.0, float(retry_after))


class NotifyRejected(NotifyError):
    """Permanent: the provider refused this notification (bad number, unverified sender,
    bad credentials...). Retrying the same request will fail the same way.

    `code` is the provider's error code where it has one (Twilio 21211, ...).
    """

    def __init__(self, message: str, *, code: int | None = None, status: int | None = None):
        super().__init__(message)
        self.code = code
        self.status = status


@runtime_checkable
class SmsSender(Protocol):
    async def send_sms(self, to: str, body: str, *, status_callback: str | None = None) -> str:
        """Queue an SMS with the provider; return its message SID."""
        ...


@runtime_checkable
class EmailSender(Protocol):
    async def send_email(
        self, to: str, subject: str, text: str, html: str | None = None
    ) -> str | None:
        """Hand an email to the provider; return its message id when it gives one."""
        ...


@runtime_checkable
class PhoneVerifier(Protocol):
    async def start_verification(self, to: str) -> str:
        """Send a one-time code to `to`; return the verification status ("pending")."""
        ...

    async def check_verification(self, to: str, code: str) -> bool:
        """True when `code` is the one sent to `to`."""
        ...


def mask_phone(number: str) -> str:
    """Enough of a phone number to tell messages apart in logs, not to dial it."""
    if len(number) <= 6:
        return "***"
    return f"{number[:3]}***{number[-3:]}"


def mask_email(address: str) -> str:
    local, at, domain = address.partition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"
