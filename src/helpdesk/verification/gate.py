"""Which knowledge-base articles only verified customers get answers from.

An article opts in with a front-matter tag (`tags: [orders, requires_verification]`,
the tag is `HELPDESK_VERIFY_REQUIRED_TAG`). The set follows the brain's live article
list, so a reindex that adds or drops the tag takes effect without a restart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol


class TaggedArticle(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def tags(self) -> tuple[str, ...]: ...


class TaggedArticles:
    """Callable: the ids of the articles carrying `tag`, recomputed when the list changes."""

    def __init__(self, articles: Callable[[], Sequence[TaggedArticle]], tag: str) -> None:
        self._articles = articles
        self._tag = tag.strip().casefold()
        self._seen: Sequence[TaggedArticle] | None = None
        self._ids: frozenset[str] = frozenset()

    def __call__(self) -> frozenset[str]:
        articles = self._articles()
        if articles is not self._seen:
            self._ids = frozenset(
                article.id
                for article in articles
                if self._tag and any(t.casefold() == self._tag for t in article.tags)
            )
            self._seen = articles
        return self._ids
