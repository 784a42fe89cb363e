"""SMS encoding and segment counts, as carriers (and Twilio's calculator) count them."""

from __future__ import annotations

import pytest

from helpdesk.notify.templates import sms_segments


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ("GSM-7", 0)),
        ("Hello", ("GSM-7", 1)),
        ("Über café: Ä Ö Ñ Ü ä ö ñ ü à é è £ ¥ ¿ ¡ @ $ _ Δ Ω", ("GSM-7", 1)),
        ("a" * 160, ("GSM-7", 1)),
        ("a" * 161, ("GSM-7", 2)),
        ("a" * 306, ("GSM-7", 2)),
        ("a" * 307, ("GSM-7", 3)),
        ("a" * 459, ("GSM-7", 3)),
        ("a" * 460, ("GSM-7", 4)),
    ],
)
def test_gsm7(text: str, expected: tuple[str, int]) -> None:
    assert sms_segments(text) == expected


def test_extension_characters_count_twice() -> None:
    assert sms_segments("€" * 80) == ("GSM-7", 1)  # 160 septets
    assert sms_segments("€" * 81) == ("GSM-7", 2)
    assert sms_segments("a" * 158 + "[") == ("GSM-7", 1)
    assert sms_segments("a" * 159 + "{") == ("GSM-7", 2)
    for char in "^{}\\[]~|€\f":
        assert sms_segments(char) == ("GSM-7", 1)


def test_an_escape_pair_is_never_split_across_parts() -> None:
    # 152 septets then "€": 154 > 153, so the € opens part two.
    assert sms_segments("a" * 152 + "€" + "a" * 10) == ("GSM-7", 2)
    # 306 septets fill two parts exactly; one more char needs a third.
    assert sms_segments("a" * 152 + "€" + "a" * 152) == ("GSM-7", 3)
    assert sms_segments("a" * 151 + "€" + "a" * 153) == ("GSM-7", 2)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Thanks 🙂", ("UCS-2", 1)),
        ("“smart quotes”", ("UCS-2", 1)),
        ("Привет", ("UCS-2", 1)),
        ("naïve", ("UCS-2", 1)),  # ì is GSM-7, ï is not
        ("ç" + "a" * 69, ("UCS-2", 1)),  # lower-case ç is not GSM-7 (only Ç is)
        ("你" * 70, ("UCS-2", 1)),
        ("你" * 71, ("UCS-2", 2)),
        ("你" * 134, ("UCS-2", 2)),
        ("你" * 135, ("UCS-2", 3)),
    ],
)
def test_ucs2(text: str, expected: tuple[str, int]) -> None:
    assert sms_segments(text) == expected


def test_emoji_count_as_two_utf16_units() -> None:
    assert sms_segments("😀" * 35) == ("UCS-2", 1)  # 70 units
    assert sms_segments("😀" * 36) == ("UCS-2", 2)
    # 66 units then an emoji: 68 > 67, so the pair is not split and opens part two.
    assert sms_segments("a" * 66 + "😀" + "a" * 10) == ("UCS-2", 2)
    assert sms_segments("a" * 66 + "😀" + "a" * 67) == ("UCS-2", 3)


def test_one_emoji_switches_the_whole_message() -> None:
    assert sms_segments("a" * 100) == ("GSM-7", 1)
    assert sms_segments("a" * 99 + "🙂") == ("UCS-2", 2)
