"""The rules of a verification, as pure functions: codes, hashes, expiry, attempts, limits.

Nothing here reads a clock, the database or the network: the service passes `now`
and the counts it found, so every decision can be tested on its own.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from helpdesk.config import Settings

CODE_DIGITS = 6
# "123456", "123 456", "123-456": how people type a code they read off an SMS.
_CODE = re.compile(r"^\s*(\d{3})[\s-]?(\d{3})\s*$")
DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Limits:
    code_ttl: timedelta
    max_attempts: int
    resend_cooldown: timedelta
    daily_per_number: int
    daily_per_user: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            code_ttl=timedelta(seconds=settings.verify_code_ttl_seconds),
            max_attempts=settings.verify_max_attempts,
            resend_cooldown=timedelta(seconds=settings.verify_resend_cooldown_seconds),
            daily_per_number=settings.verify_daily_limit_per_number,
            daily_per_user=settings.verify_daily_limit_per_user,
        )


def generate_code() -> str:
    """Six random digits from the OS's CSPRNG; leading zeros included."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def new_salt() -> str:
    return secrets.token_hex(16)


def hash_code(code: str, salt: str, key: bytes) -> str:
    """HMAC-SHA256 of the salted code. With `key` kept out of the database, a copy of
    the table is not enough to try the million possible codes against a hash."""
    return hmac.new(key, f"{salt}:{code}".encode(), hashlib.sha256).hexdigest()


def code_matches(code: str, salt: str, stored_hash: str, key: bytes) -> bool:
    return hmac.compare_digest(hash_code(code, salt, key), stored_hash)


def parse_code(text: str) -> str | None:
    """The six digits of a message that is a code, else None."""
    found = _CODE.match(text)
    return found.group(1) + found.group(2) if found else None


class SendVerdict(StrEnum):
    ALLOWED = "allowed"
    TOO_SOON = "too_soon"
    DAILY_CAP = "daily_cap"


@dataclass(frozen=True, slots=True)
class SendDecision:
    verdict: SendVerdict
    wait_seconds: int = 0


@dataclass(frozen=True, slots=True)
class SendHistory:
    """What was sent in the last 24 hours, to this number and to this customer."""

    last_sent_at: datetime | None  # latest code to the number or by the customer
    sent_to_number: int
    sent_by_user: int


def may_send(history: SendHistory, now: datetime, limits: Limits) -> SendDecision:
    """Whether a new code may go out now. The daily cap wins over the cooldown: telling
    someone to wait a minute for a code they cannot get until tomorrow would be a lie."""
    if (
        history.sent_to_number >= limits.daily_per_number
        or history.sent_by_user >= limits.daily_per_user
    ):
        return SendDecision(SendVerdict.DAILY_CAP)
    if history.last_sent_at is not None:
        ready_at = history.last_sent_at + limits.resend_cooldown
        if ready_at > now:
            wait = int((ready_at - now).total_seconds() + 0.999)
            return SendDecision(SendVerdict.TOO_SOON, max(wait, 1))
    return SendDecision(SendVerdict.ALLOWED)


class CheckVerdict(StrEnum):
    APPROVED = "approved"
    WRONG = "wrong"
    EXPIRED = "expired"
    LOCKED = "locked"  # no attempts left


def before_check(
    expires_at: datetime, attempts: int, now: datetime, limits: Limits
) -> CheckVerdict | None:
    """A verdict reached without looking at the code, or None when it must be checked."""
    if now >= expires_at:
        return CheckVerdict.EXPIRED
    if attempts >= limits.max_attempts:
        return CheckVerdict.LOCKED
    return None


def attempts_left(attempts: int, limits: Limits) -> int:
    return max(0, limits.max_attempts - attempts)
