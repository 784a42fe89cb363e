"""Answers straight from the knowledge base when no LLM is configured."""

from __future__ import annotations

from collections.abc import Sequence

from helpdesk.brain.index import Hit
from helpdesk.brain.knowledge import Article, Chunk
from helpdesk.brain.postprocess import Draft, follow_up_text, headings_to_bold
from helpdesk.domain import EscalationReason

# Short articles read better whole; longer ones are quoted from the best chunk on.
WHOLE_ARTICLE_WORDS = 120
MIN_EXCERPT_WORDS = 60
# Below the threshold but not unrelated: worth a "this may help" link.
POINTER_FRACTION = 0.6


def excerpt(article: Article, best: Chunk | None) -> str:
    if best is None or article.word_count <= WHOLE_ARTICLE_WORDS or len(article.chunks) < 2:
        return article.body
    start = article.chunks.index(best)
    picked = [best]
    words = best.word_count
    # A lone short chunk ("Please contact us within 14 days...") needs what follows it.
    for chunk in article.chunks[start + 1 :]:
        if words >= MIN_EXCERPT_WORDS:
            break
        picked.append(chunk)
        words += chunk.word_count
    return "\n\n".join(c.text for c in picked)


class OfflineResponder:
    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def respond(self, hits: Sequence[Hit]) -> Draft:
        best = hits[0] if hits else None
        if best is None or best.confidence < self.threshold:
            pointer = (
                best if best and best.confidence >= self.threshold * POINTER_FRACTION else None
            )
            return Draft(
                body=follow_up_text(pointer),
                confidence=best.confidence if best else 0.0,
                needs_human=True,
                reason=EscalationReason.LOW_CONFIDENCE.value,
                responder="offline",
            )
        article = best.article
        text = excerpt(article, best.chunk)
        return Draft(
            body=f"**{article.title}**\n\n{headings_to_bold(text)}",
            confidence=best.confidence,
            sources=[best],
            responder="offline",
        )
