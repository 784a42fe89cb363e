"""Run the product's retrieval and confidence over labelled queries, and time it."""

from __future__ import annotations

import asyncio
import hashlib
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpdesk.brain.embeddings import MAX_SEQ_TOKENS, Encoder, Vectors
from helpdesk.brain.index import HybridIndex, assemble, entries_key
from helpdesk.brain.knowledge import Article
from helpdesk.config import Settings
from helpdesk.evaluation.datasets import Example
from helpdesk.evaluation.metrics import Prediction

RANK_BATCH = 256
# Queries re-encoded live to time the embedding even when vectors come from the cache.
SPEED_SAMPLE = 512


class Progress:
    """A one-line progress bar on stderr (silent when disabled)."""

    def __init__(self, label: str, total: int, enabled: bool = True) -> None:
        self.label, self.total, self.done, self.enabled = label, max(total, 1), 0, enabled
        self._last = 0.0

    def __call__(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        if not self.enabled or (now - self._last < 0.2 and self.done < self.total):
            return
        self._last = now
        filled = int(30 * min(self.done, self.total) / self.total)
        bar = "#" * filled + "." * (30 - filled)
        sys.stderr.write(f"\r{self.label:<18} [{bar}] {self.done}/{self.total}")
        if self.done >= self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


@dataclass(frozen=True, slots=True)
class Timing:
    index_seconds: float | None  # None when the index came from the cache
    entries: int
    embed_qps: float  # query embedding alone
    rank_qps: float  # retrieval + confidence once the query is embedded
    qps: float  # both, one after the other
    peak_rss_mb: float


@dataclass(frozen=True, slots=True)
class Run:
    predictions: list[Prediction]
    timing: Timing
    index: HybridIndex


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def load_encoder(settings: Settings) -> Encoder:
    # Evaluation is a batch job: unlike the server, it may take every core.
    encoder = Encoder(settings.embedding_model, threads=os.cpu_count() or 1)
    await encoder.load()
    return encoder


class VectorCache:
    """Query vectors on disk keyed by model and texts: repeated evals skip the embedding."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    def _path(self, model: str, texts: Sequence[str]) -> Path | None:
        if self.folder is None:
            return None
        digest = hashlib.sha256(f"{model}\0seq{MAX_SEQ_TOKENS}\0".encode())
        for text in texts:
            digest.update(text.encode() + b"\0")
        return self.folder / f"queries-{digest.hexdigest()[:20]}.npy"

    async def encode(
        self, encoder: Encoder, texts: list[str], progress: Progress | None = None
    ) -> Vectors:
        path = self._path(encoder.revision, texts)
        if path is not None and path.is_file():
            vectors: Vectors = np.load(path)
            if len(vectors) == len(texts):
                if progress is not None:
                    progress(len(texts))
                return vectors
        vectors = await encoder.encode_many(texts, progress=progress)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, vectors)
        return vectors


def cache_dir(settings: Settings, use_cache: bool) -> Path:
    if use_cache:
        return settings.data_dir / "eval"
    return Path(tempfile.mkdtemp(prefix="helpdesk-eval-"))


async def build_index(
    articles: list[Article], encoder: Encoder, folder: Path, show_progress: bool
) -> tuple[HybridIndex, float | None]:
    entries = sum(1 + len(a.questions) + len(a.chunks) for a in articles)
    started = time.perf_counter()
    index = await assemble(
        entries_key(articles, encoder),
        articles,
        folder / "index",
        encoder,
        progress=Progress("embedding KB", entries, show_progress),
    )
    return index, (time.perf_counter() - started) if index.rebuilt else None


def rank_all(index: HybridIndex, texts: list[str], vectors: Vectors) -> list[tuple[str, float]]:
    """Top-1 in-scope article id and its confidence for every query."""
    out: list[tuple[str, float]] = []
    for begin in range(0, len(texts), RANK_BATCH):
        ranking = index.rank(texts[begin : begin + RANK_BATCH], vectors[begin : begin + RANK_BATCH])
        best = ranking.fused.argmax(axis=1)
        conf = ranking.confidence[np.arange(len(best)), best]
        out += [(index.articles[int(a)].id, float(c)) for a, c in zip(best, conf, strict=True)]
    return out


async def evaluate(
    articles: list[Article],
    queries: list[Example],
    settings: Settings,
    *,
    use_cache: bool = True,
    show_progress: bool = True,
) -> Run:
    folder = cache_dir(settings, use_cache)
    try:
        encoder = await load_encoder(settings)
        index, index_seconds = await build_index(articles, encoder, folder, show_progress)
        texts = [q.text for q in queries]
        cache = VectorCache(folder if use_cache else None)
        vectors = await cache.encode(
            encoder, texts, Progress("embedding queries", len(texts), show_progress)
        )
        sample = texts[:SPEED_SAMPLE]
        started = time.perf_counter()
        await encoder.encode_many(sample)
        embed_qps = len(sample) / max(time.perf_counter() - started, 1e-9)
        started = time.perf_counter()
        ranked = await asyncio.to_thread(rank_all, index, texts, vectors)
        rank_qps = len(texts) / max(time.perf_counter() - started, 1e-9)
    finally:
        if not use_cache:
            shutil.rmtree(folder, ignore_errors=True)
    predictions = [
        Prediction(q.text, q.label, predicted, confidence)
        for q, (predicted, confidence) in zip(queries, ranked, strict=True)
    ]
    timing = Timing(
        index_seconds=index_seconds,
        entries=len(index.entries),
        embed_qps=embed_qps,
        rank_qps=rank_qps,
        qps=1 / (1 / embed_qps + 1 / rank_qps),
        peak_rss_mb=peak_rss_mb(),
    )
    return Run(predictions, timing, index)
