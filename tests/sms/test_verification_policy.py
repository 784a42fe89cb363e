"""The verification rules on their own: codes, hashes, limits, numbers, reserved articles."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from helpdesk.config import Settings
from helpdesk.verification import TaggedArticles
from helpdesk.verification.phones import (
    InvalidPhone,
    contact_to_e164,
    looks_like_phone,
    masked,
    to_e164,
)
from helpdesk.verification.policy import (
    CheckVerdict,
    Limits,
    SendHistory,
    SendVerdict,
    attempts_left,
    before_check,
    code_matches,
    generate_code,
    hash_code,
    may_send,
    parse_code,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
LIMITS = Limits.from_settings(Settings(_env_file=None))


def test_codes_are_six_random_digits_with_leading_zeros_kept() -> None:
    codes = {generate_code() for _ in range(2000)}
    assert all(len(code) == 6 and code.isdigit() for code in codes)
    assert len(codes) > 1990  # a million possibilities: almost no repeats
    assert any(code.startswith("0") for code in codes)


def test_a_code_is_stored_as_a_keyed_salted_hash() -> None:
    digest = hash_code("012345", "salt-a", b"pepper")
    assert "012345" not in digest and len(digest) == 64
    assert code_matches("012345", "salt-a", digest, b"pepper")
    assert not code_matches("012346", "salt-a", digest, b"pepper")
    # Another salt or another server key gives another hash for the same code.
    assert hash_code("012345", "salt-b", b"pepper") != digest
    assert hash_code("012345", "salt-a", b"other") != digest


@pytest.mark.parametrize(
    ("text", "code"),
    [("123456", "123456"), (" 123 456 ", "123456"), ("123-456", "123456"), ("012345", "012345")],
)
def test_codes_are_read_as_people_type_them(text: str, code: str) -> None:
    assert parse_code(text) == code


@pytest.mark.parametrize("text", ["12345", "1234567", "abc123", "my code is 123456", ""])
def test_anything_else_is_not_a_code(text: str) -> None:
    assert parse_code(text) is None


def test_the_defaults_are_ten_minutes_five_attempts_a_minute_between_codes() -> None:
    assert LIMITS.code_ttl == timedelta(minutes=10)
    assert LIMITS.max_attempts == 5
    assert LIMITS.resend_cooldown == timedelta(seconds=60)


def test_a_new_code_waits_for_the_cooldown() -> None:
    just_sent = SendHistory(NOW - timedelta(seconds=15), 1, 1)
    assert may_send(just_sent, NOW, LIMITS).verdict is SendVerdict.TOO_SOON
    assert may_send(just_sent, NOW, LIMITS).wait_seconds == 45
    a_minute_ago = SendHistory(NOW - timedelta(seconds=60), 1, 1)
    assert may_send(a_minute_ago, NOW, LIMITS).verdict is SendVerdict.ALLOWED
    assert may_send(SendHistory(None, 0, 0), NOW, LIMITS).verdict is SendVerdict.ALLOWED


def test_the_daily_caps_win_over_the_cooldown() -> None:
    per_number = SendHistory(NOW - timedelta(seconds=5), LIMITS.daily_per_number, 0)
    per_user = SendHistory(None, 0, LIMITS.daily_per_user)
    assert may_send(per_number, NOW, LIMITS).verdict is SendVerdict.DAILY_CAP
    assert may_send(per_user, NOW, LIMITS).verdict is SendVerdict.DAILY_CAP


def test_a_check_is_refused_once_expired_or_out_of_attempts() -> None:
    expires = NOW + timedelta(minutes=1)
    assert before_check(expires, 0, NOW, LIMITS) is None
    assert before_check(expires, 4, NOW, LIMITS) is None
    assert before_check(expires, 5, NOW, LIMITS) is CheckVerdict.LOCKED
    assert before_check(NOW, 0, NOW, LIMITS) is CheckVerdict.EXPIRED
    assert attempts_left(3, LIMITS) == 2 and attempts_left(7, LIMITS) == 0


@pytest.mark.parametrize(
    ("text", "region", "e164"),
    [
        ("+49 151 12345678", None, "+4915112345678"),
        ("+1 (415) 555-0123", None, "+14155550123"),
        ("07911 123456", "GB", "+447911123456"),
        ("0049 151 12345678", "DE", "+4915112345678"),
    ],
)
def test_numbers_are_normalised_to_e164(text: str, region: str | None, e164: str) -> None:
    assert to_e164(text, region) == e164


@pytest.mark.parametrize(
    ("text", "region"), [("07911 123456", None), ("+1 555 555 0123", None), ("+3312345", None)]
)
def test_invalid_numbers_are_refused(text: str, region: str | None) -> None:
    with pytest.raises(InvalidPhone) as refused:
        to_e164(text, region)
    assert not refused.value.landline


def test_a_landline_is_refused_as_such() -> None:
    with pytest.raises(InvalidPhone) as refused:
        to_e164("+49 30 123456")
    assert refused.value.landline


def test_telegram_contacts_come_without_the_plus() -> None:
    assert contact_to_e164("4915112345678") == "+4915112345678"
    assert contact_to_e164("+4915112345678") == "+4915112345678"


def test_phone_like_messages_are_told_from_questions_and_codes() -> None:
    assert looks_like_phone("+44 7911 123456")
    assert looks_like_phone("(415) 555-0123")
    assert not looks_like_phone("123456")  # a code
    assert not looks_like_phone("where is order 12345678?")
    assert masked("+4915112345678") == "+49 •••• 678"


@dataclass(frozen=True)
class Article:
    id: str
    tags: tuple[str, ...]


def test_reserved_articles_follow_the_live_article_list() -> None:
    articles = [Article("orders", ("orders", "Requires_Verification")), Article("faq", ())]
    reserved = TaggedArticles(lambda: articles, "requires_verification")
    assert reserved() == {"orders"}
    articles = [Article("faq", ("requires_verification",))]  # a reindex swapped the list
    assert reserved() == {"faq"}
    assert TaggedArticles(lambda: articles, "")() == set()
