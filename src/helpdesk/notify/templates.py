"""How an SMS text will be billed: its encoding and number of segments.

Carriers bill per segment, and one character outside GSM-7 (an emoji, a curly quote)
switches the whole message to UCS-2, cutting a segment from 160 to 70 characters.
Long messages are split into parts that each lose room to a concatenation header
(153 GSM-7 septets / 67 UTF-16 units), and a part never ends in the middle of an
escape sequence or a surrogate pair, as Twilio's own segment calculator does.
"""

from __future__ import annotations

GSM7 = "GSM-7"
UCS2 = "UCS-2"

# GSM 03.38 default alphabet (the escape character itself left out: it is not text).
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: each is sent as ESC + char, so it costs two septets.
_GSM_EXTENSION = frozenset("\f^{}\\[~]|€")

_SINGLE = {GSM7: 160, UCS2: 70}
_PART = {GSM7: 153, UCS2: 67}


def sms_encoding(text: str) -> str:
    return GSM7 if all(c in _GSM_BASIC or c in _GSM_EXTENSION for c in text) else UCS2


def _units(text: str, encoding: str) -> list[int]:
    """The size of each character: septets in GSM-7, UTF-16 code units in UCS-2."""
    if encoding == GSM7:
        return [2 if c in _GSM_EXTENSION else 1 for c in text]
    return [2 if ord(c) > 0xFFFF else 1 for c in text]


def sms_segments(text: str) -> tuple[str, int]:
    """("GSM-7" or "UCS-2", number of segments). An empty text is 0 segments."""
    encoding = sms_encoding(text)
    units = _units(text, encoding)
    if sum(units) <= _SINGLE[encoding]:
        return encoding, 1 if units else 0
    part_size = _PART[encoding]
    parts, used = 1, 0
    for size in units:
        if used + size > part_size:  # an escape pair or surrogate pair is never split
            parts += 1
            used = 0
        used += size
    return encoding, parts
