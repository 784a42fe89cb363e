"""Segments: which customers a campaign is for.

    all               every customer we can reach
    verified          customers who proved a phone number (issue 6, /verify)
    language=de       customers whose Telegram language is German (de, de-AT...)
    tag=orders        customers who got a bot answer from an article tagged `orders`
                      (the tags in the knowledge base's front matter)
    topic=returns     customers who got a bot answer from the article `returns` in
                      the last N days (HELPDESK_CAMPAIGN_TOPIC_DAYS, or `days`)

Tags are not stored per customer: they follow from what customers asked, through
the sources of the bot answers they received (messages.sources), so they need no
upkeep and stay right when articles are retagged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KINDS = ("all", "verified", "language", "tag", "topic")
_VALUE = re.compile(r"^[\w./-]{1,100}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$")


class SegmentError(ValueError):
    """A segment that cannot be understood; the message says what is expected."""


@dataclass(frozen=True, slots=True)
class Segment:
    kind: str
    value: str | None = None
    days: int | None = None  # tag and topic: only answers this recent

    def __str__(self) -> str:
        text = self.kind if self.value is None else f"{self.kind}={self.value}"
        return text if self.days is None else f"{text} (last {self.days} days)"


def parse_segment(text: str, *, days: int | None = None, topic_days: int = 30) -> Segment:
    """`all`, `verified`, `language=xx`, `tag=xx` or `topic=xx` (article id)."""
    kind, has_value, value = text.strip().partition("=")
    kind = kind.strip().lower()
    value = value.strip()
    if kind not in KINDS:
        raise SegmentError(
            f"unknown segment {text!r}: use all, verified, language=xx, tag=xx or topic=ARTICLE"
        )
    if days is not None and days < 1:
        raise SegmentError("days must be at least 1")
    if kind in ("all", "verified"):
        if has_value:
            raise SegmentError(f"segment {kind} takes no value")
        return Segment(kind)
    if not value:
        raise SegmentError(f"segment {kind} needs a value: {kind}=...")
    if kind == "language":
        value = value.lower().replace("_", "-")
        if not _LANGUAGE.match(value):
            raise SegmentError(f"not a language code: {value!r} (e.g. en, de, pt-br)")
        return Segment(kind, value)
    if not _VALUE.match(value):
        raise SegmentError(f"not a {kind}: {value!r}")
    if kind == "topic":
        return Segment(kind, value, days if days is not None else topic_days)
    return Segment(kind, value.lower(), days)
