"""The text each customer gets: placeholders, a language variant, the link, SMS segments.

Placeholders: {first_name}, {last_name}, {name} (first name, or "there" when we do not
know it) and {company}. A campaign may carry variants per language ({"de": "..."});
a customer whose Telegram language is de-AT gets the "de" one, anyone else the main
text. The link, when given, ends the message unless the text places it with {link}.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass

from helpdesk.notify.templates import sms_segments

PLACEHOLDERS = frozenset({"first_name", "last_name", "name", "company", "link"})
MAX_TEXT = 1600  # Twilio's limit for one SMS body; well under Telegram's 4096
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]()#+\-.!<>|~])")


class TemplateError(ValueError):
    """A text that cannot be sent as it is (unknown placeholder, too long...)."""


@dataclass(frozen=True, slots=True)
class Person:
    first_name: str | None
    last_name: str | None
    language_code: str | None


def check_template(text: str) -> None:
    """Raise TemplateError for an empty text, a stray brace or an unknown placeholder."""
    if not text.strip():
        raise TemplateError("the text is empty")
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as error:
        raise TemplateError(f"{error} (write {{{{ and }}}} for literal braces)") from error
    unknown = sorted({name for name in fields if name not in PLACEHOLDERS})
    if unknown:
        allowed = ", ".join("{" + name + "}" for name in sorted(PLACEHOLDERS))
        raise TemplateError(f"unknown placeholder {{{unknown[0]}}}: use {allowed}")


def pick_text(text: str, variants: Mapping[str, str] | None, language_code: str | None) -> str:
    if variants and language_code:
        language = language_code.lower().replace("_", "-")
        for candidate in (language, language.split("-")[0]):
            if candidate in variants:
                return variants[candidate]
    return text


def render(
    text: str,
    person: Person,
    *,
    company: str,
    link: str | None = None,
    markdown: bool = False,
) -> str:
    """The text for one person; `markdown` escapes their name for Telegram's renderer."""

    def value(raw: str | None) -> str:
        raw = raw or ""
        return _MARKDOWN_SPECIAL.sub(r"\\\1", raw) if markdown else raw

    first = (person.first_name or "").strip()
    values = {
        "first_name": value(first),
        "last_name": value((person.last_name or "").strip()),
        "name": value(first) if first else "there",
        "company": value(company),
        "link": link or "",
    }
    body = text.format_map(values).strip()
    if link and "{link}" not in text:
        body = f"{body}\n{link}"
    return body


@dataclass(frozen=True, slots=True)
class SmsCost:
    encoding: str
    segments: int
    characters: int


def sms_cost(body: str) -> SmsCost:
    encoding, segments = sms_segments(body)
    return SmsCost(encoding, segments, len(body))
