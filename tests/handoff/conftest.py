"""Handoff fixtures: settings without the environment, a clock, a fake embedder."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from helpdesk.config import Settings
from helpdesk.handoff.policy import Vectors

# A Friday afternoon, so that opening-hours tests can reach "Monday".
NOW = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)


def make_settings(**overrides: Any) -> Settings:
    # Not the developer's .env: tests see the defaults plus what they ask for.
    values: dict[str, Any] = {"_env_file": None, **overrides}
    return Settings(**values)


@pytest.fixture
def settings_factory() -> Callable[..., Settings]:
    return make_settings


@pytest.fixture
def settings() -> Settings:
    return make_settings()


class FakeEmbedder:
    """Texts of one topic get the same unit vector; topics are orthogonal.

    `similarity` pairs give a second vector at an exact cosine to the first, to probe
    the threshold.
    """

    def __init__(
        self,
        topics: dict[str, Iterable[str]],
        similarity: dict[tuple[str, str], float] | None = None,
    ) -> None:
        self.calls: list[list[str]] = []
        self._vectors: dict[str, Vectors] = {}
        dim = len(topics) + 2 * len(similarity or {}) + 1
        for i, texts in enumerate(topics.values()):
            for text in texts:
                self._vectors[text] = np.eye(dim)[i]
        for j, ((a, b), cosine) in enumerate((similarity or {}).items()):
            base = len(topics) + 2 * j
            self._vectors[a] = np.eye(dim)[base]
            self._vectors[b] = (
                cosine * np.eye(dim)[base] + np.sqrt(1 - cosine**2) * np.eye(dim)[base + 1]
            )

    async def embed(self, texts: list[str]) -> Vectors:
        self.calls.append(list(texts))
        return np.stack([self._vectors[t] for t in texts])


class BrokenEmbedder:
    async def embed(self, texts: list[str]) -> Vectors:
        raise RuntimeError("model not loaded")
