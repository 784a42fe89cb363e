"""Turn a responder's draft into the Answer every channel receives.

Both responders end here, so sources, footer, keyword hits and the low-confidence
rule look the same whether the text came from Llama or from an article.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from helpdesk.brain.index import Hit
from helpdesk.config import Settings
from helpdesk.domain import Answer, EscalationReason, Source

Responder = Literal["llm", "offline", "fallback"]


@dataclass(slots=True)
class Draft:
    body: str
    confidence: float
    sources: list[Hit] = field(default_factory=list)
    needs_human: bool = False
    reason: str | None = None
    responder: Responder = "offline"
    model: str | None = None
    latency_ms: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


def finalize(draft: Draft, question: str, settings: Settings) -> Answer:
    needs_human, reason = draft.needs_human, draft.reason
    confidence = min(1.0, max(0.0, draft.confidence))
    if draft.responder == "llm" and confidence < settings.answer_threshold and not needs_human:
        needs_human, reason = True, EscalationReason.LOW_CONFIDENCE.value
    sources = _unique(draft.sources)
    body = clean_markdown(draft.body)
    parts = [body]
    # A fallback already points at its article in the text: no need to say it twice.
    listed = [h for h in sources if markdown_link(h.article.title, h.article.url) not in body]
    if listed:
        parts.append(sources_section(listed))
    # When a person is already on the way, "reply /human" would only confuse.
    if settings.contact_footer.strip() and not needs_human:
        parts.append(settings.contact_footer.strip())
    return Answer(
        text="\n\n".join(p for p in parts if p),
        confidence=round(confidence, 4),
        sources=tuple(
            Source(
                article_id=h.article.id,
                title=h.article.title,
                url=h.article.url,
                score=round(h.confidence, 4),
            )
            for h in sources
        ),
        needs_human=needs_human,
        reason=reason,
        responder=draft.responder,
        model=draft.model,
        latency_ms=draft.latency_ms,
        prompt_tokens=draft.prompt_tokens,
        completion_tokens=draft.completion_tokens,
        keyword_hits=keyword_hits(question, settings.escalation_keywords),
    )


def _unique(hits: Iterable[Hit]) -> list[Hit]:
    seen: set[str] = set()
    result = []
    for hit in hits:
        if hit.article.id not in seen:
            seen.add(hit.article.id)
            result.append(hit)
    return result


@lru_cache(maxsize=64)
def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    words = [re.escape(w) for w in keyword.split()]
    # Lookarounds rather than \b so that keywords ending in punctuation still match,
    # and any run of spaces/newlines between the words of a phrase counts.
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)


def keyword_hits(message: str, keywords: Sequence[str]) -> tuple[str, ...]:
    hits = []
    for keyword in keywords:
        keyword = keyword.strip()
        if keyword and _keyword_pattern(keyword).search(message):
            hits.append(keyword)
    return tuple(dict.fromkeys(hits))


def markdown_link(title: str, url: str | None) -> str:
    label = re.sub(r"([\[\]\\])", r"\\\1", title)
    if not url:
        return label
    return f"[{label}]({url.replace(' ', '%20').replace('(', '%28').replace(')', '%29')})"


def sources_section(hits: Sequence[Hit]) -> str:
    lines = [f"- {markdown_link(h.article.title, h.article.url)}" for h in hits]
    return "Sources:\n" + "\n".join(lines)


_WRAPPING_FENCE = re.compile(r"^```[a-zA-Z]*\n(.*?)\n```$", re.DOTALL)
_SOURCES_LINE = re.compile(r"^\W*(sources|references)\W*$", re.IGNORECASE)
_LIST_ITEM = re.compile(r"^\s*([-*+]|\d+[.)])\s")
_BREAK = re.compile(r"<br\s*/?>", re.I)
_TAG = re.compile(r"</?(p|div|span|b|i|strong|em|u|br)\b[^>]*>", re.I)


def clean_markdown(text: str) -> str:
    """Readable chat Markdown from whatever the model produced.

    Models like to wrap replies in a code fence, add HTML, or append their own source
    list; the channel renders Markdown and we add the sources ourselves.
    """
    text = text.replace("\r\n", "\n").strip()
    fenced = _WRAPPING_FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    text = _BREAK.sub("\n", text)
    text = _TAG.sub("", text)
    text = _drop_trailing_sources(text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def _drop_trailing_sources(text: str) -> str:
    lines = text.split("\n")
    for i in range(len(lines) - 1, -1, -1):
        if _SOURCES_LINE.match(lines[i]):
            tail = [ln for ln in lines[i + 1 :] if ln.strip()]
            if tail and all(_LIST_ITEM.match(ln) for ln in tail):
                return "\n".join(lines[:i])
            break
    return text


def headings_to_bold(text: str) -> str:
    """Chat apps render no headings: keep them as bold lines."""
    return re.sub(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", r"**\1**", text, flags=re.MULTILINE)


def cited(hits: Sequence[Hit], text: str) -> list[Hit]:
    """Articles the model's reply mentions by URL or by title."""
    lowered = text.lower()
    return [
        h
        for h in hits
        if (h.article.url and h.article.url.lower() in lowered)
        or h.article.title.lower() in lowered
    ]


def follow_up_text(pointer: Hit | None) -> str:
    text = (
        "I couldn't find a reliable answer to that, so I've passed your message to our team: "
        "a person will follow up here as soon as possible."
    )
    if pointer is not None:
        link = markdown_link(pointer.article.title, pointer.article.url)
        text += f"\n\nIn the meantime, this article may help: {link}"
    return text
