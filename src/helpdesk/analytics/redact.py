"""Redaction of personal data in free text: card numbers, emails, phone numbers.

Pure functions, no I/O. Card-like numbers are digit runs of 13-19 digits (spaces or
dashes allowed between groups) that pass the Luhn check, so order numbers and
dates survive. Phone numbers are found by libphonenumber's matcher (the same rules
Android uses), in international form anywhere and in national form for `region`.
"""

from __future__ import annotations

import re

import phonenumbers

CARD = "[card]"
EMAIL = "[email]"
PHONE = "[phone]"

_MAYBE_PERSONAL = re.compile(r"[\d@]")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# 13-19 digits, optionally grouped by single spaces or dashes (4-4-4-4, 4-6-5, ...).
_CARD = re.compile(r"(?<![\d])(?:\d[ -]?){12,18}\d(?![\d])")


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    if not digits.isdigit():
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"[ -]", "", match.group(0))
    return CARD if 13 <= len(digits) <= 19 and luhn_valid(digits) else match.group(0)


def redact(text: str | None, *, region: str | None = None) -> str | None:
    """`text` with card numbers, emails and phone numbers replaced by placeholders."""
    if not text or not _MAYBE_PERSONAL.search(text):
        return text  # no digit and no "@": nothing to find (most messages, fast)
    text = _CARD.sub(_card, text)
    text = _EMAIL.sub(EMAIL, text)
    return _redact_phones(text, region)


def _redact_phones(text: str, region: str | None) -> str:
    # Without a region only "+<country>..." numbers can be recognised.
    matcher = phonenumbers.PhoneNumberMatcher(
        text, region or "ZZ", leniency=phonenumbers.Leniency.VALID
    )
    spans = [(match.start, match.end) for match in matcher]
    for start, end in reversed(spans):
        text = text[:start] + PHONE + text[end:]
    return text
