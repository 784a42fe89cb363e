"""Phone numbers as customers give them, turned into E.164 with Google's libphonenumber."""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

# Digits with the separators people type: "+44 7700 900123", "(415) 555-0123".
_PHONE_LIKE = re.compile(r"^\s*\+?[\d\s().\-/]+\s*$")
_MIN_DIGITS = 7


class InvalidPhone(ValueError):
    """Not a number we can text; `landline` when it is valid but cannot receive SMS."""

    def __init__(self, message: str, *, landline: bool = False) -> None:
        super().__init__(message)
        self.landline = landline


def looks_like_phone(text: str) -> bool:
    """True for a message that is a phone number attempt (valid or not), not a question."""
    return bool(_PHONE_LIKE.match(text)) and sum(ch.isdigit() for ch in text) >= _MIN_DIGITS


def to_e164(text: str, default_region: str | None = None) -> str:
    """The number in E.164 ("+4915112345678"); raise InvalidPhone if it is not one.

    Without `default_region` a number must start with "+" and its country code.
    """
    region = default_region.upper() if default_region else None
    try:
        number = phonenumbers.parse(text.strip(), region)
    except NumberParseException as exc:
        raise InvalidPhone(str(exc)) from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone("not a valid number")
    if phonenumbers.number_type(number) == PhoneNumberType.FIXED_LINE:
        raise InvalidPhone("a landline cannot receive text messages", landline=True)
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def contact_to_e164(phone_number: str) -> str:
    """A Telegram contact's number: international, but often sent without the "+"."""
    digits = phone_number.strip()
    return to_e164(digits if digits.startswith("+") else "+" + digits)


def masked(e164: str) -> str:
    """How the bot shows a number back: the country code and the last digits."""
    try:
        number = phonenumbers.parse(e164, None)
        prefix = f"+{number.country_code}"
    except NumberParseException:
        prefix = e164[:2]
    return f"{prefix} •••• {e164[-3:]}"
