"""Redaction keeps the sense of a message and drops the personal data in it."""

from __future__ import annotations

import pytest

from helpdesk.analytics.redact import luhn_valid, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my card is 4111 1111 1111 1111, expiry 12/28", "my card is [card], expiry 12/28"),
        ("card 5500-0000-0000-0004 please", "card [card] please"),
        ("amex 378282246310005", "amex [card]"),
        # Digit runs that fail the Luhn check are order numbers, not cards.
        ("order 4111111111111112 is late", "order 4111111111111112 is late"),
        ("write to ada.lovelace+shop@example.co.uk today", "write to [email] today"),
        ("call me on +44 20 7946 0958 or +1 (415) 555-2671", "call me on [phone] or [phone]"),
        ("ring +33 6 12 34 56 78", "ring [phone]"),
        (
            "delivered 2026-11-28, order #123456, 3 items",
            "delivered 2026-11-28, order #123456, 3 items",
        ),
        ("", ""),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_national_numbers_need_the_region() -> None:
    assert redact("call 020 7946 0958") == "call 020 7946 0958"
    assert redact("call 020 7946 0958", region="GB") == "call [phone]"
    assert redact(None) is None


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")
    assert not luhn_valid("4111-1111")
