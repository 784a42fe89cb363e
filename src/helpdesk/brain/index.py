"""Hybrid retrieval (dense MiniLM + BM25) over articles, persisted next to the data.

Each article contributes several entries: its title, every example question, every
chunk. An article's score is the best of its entries, so one close example question
is enough to find it, and the chunk that matched best is the one worth quoting.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import bm25s
import numpy as np
import Stemmer
import structlog

from helpdesk.brain.embeddings import MAX_SEQ_TOKENS, Encoder, Vectors
from helpdesk.brain.knowledge import Article, Chunk, content_hash, load_articles

log = structlog.get_logger(__name__)

# Bump when entries, chunking or the stored format change: old indexes are then ignored.
INDEX_VERSION = 2

# BM25 only breaks ties and rescues exact-term matches (order numbers, product words);
# MiniLM carries the meaning, so it dominates the fused ranking score.
BM25_WEIGHT = 0.15

# Confidence = logistic(SLOPE * (cosine - MIDPOINT) + MARGIN_WEIGHT * margin).
# With MiniLM, paraphrases of an example question score a cosine of ~0.55-0.9, related
# but different topics ~0.35-0.5 and small talk / other domains below ~0.3. The margin
# over the next article rewards an unambiguous match. Placeholders until calibration.
CONF_MIDPOINT = 0.42
CONF_SLOPE = 14.0
CONF_MARGIN_WEIGHT = 6.0

# Old indexes kept on disk, so that switching between knowledge folders stays cheap.
KEEP_INDEXES = 3

EntryKind = Literal["title", "question", "chunk"]

_stemmer = Stemmer.Stemmer("english")


@dataclass(frozen=True, slots=True)
class Entry:
    article: int
    kind: EntryKind
    chunk: int | None
    text: str


@dataclass(frozen=True, slots=True)
class Hit:
    article: Article
    score: float  # fused ranking score
    dense: float  # best cosine over the article's entries
    lexical: float  # best BM25 over its entries, scaled 0..1 within this query
    confidence: float  # 0..1, see `confidence()`
    chunk: Chunk | None  # the chunk closest to the query
    matched: str  # the entry text that matched best (example question, title or chunk)


def confidence(dense: float, margin: float) -> float:
    x = CONF_SLOPE * (dense - CONF_MIDPOINT) + CONF_MARGIN_WEIGHT * margin
    return 1.0 / (1.0 + math.exp(-x))


def build_entries(articles: list[Article]) -> list[Entry]:
    entries: list[Entry] = []
    for a, article in enumerate(articles):
        entries.append(Entry(a, "title", None, article.title))
        entries.extend(Entry(a, "question", None, q) for q in article.questions)
        entries.extend(
            Entry(a, "chunk", c, f"{article.title}. {chunk.text}")
            for c, chunk in enumerate(article.chunks)
        )
    return entries


def _tokenize(texts: list[str]) -> list[list[str]]:
    tokens = bm25s.tokenize(
        texts, stemmer=_stemmer, stopwords="en", show_progress=False, return_ids=False
    )
    return [list(t) for t in tokens]


class HybridIndex:
    def __init__(
        self,
        key: str,
        articles: list[Article],
        entries: list[Entry],
        vectors: Vectors,
        *,
        rebuilt: bool,
    ) -> None:
        if len(entries) != len(vectors):
            raise ValueError("one vector per entry expected")
        self.key = key
        self.articles = articles
        self.entries = entries
        self.vectors = vectors
        self.rebuilt = rebuilt
        self._entry_article = np.array([e.article for e in entries], dtype=np.int64)
        self._chunk_rows: list[list[int]] = [[] for _ in articles]
        for row, entry in enumerate(entries):
            if entry.kind == "chunk":
                self._chunk_rows[entry.article].append(row)
        self._bm25: bm25s.BM25 | None = None
        if entries:
            corpus = [f"{e.text} {' '.join(articles[e.article].tags)}".strip() for e in entries]
            self._bm25 = bm25s.BM25()
            self._bm25.index(
                bm25s.tokenize(corpus, stemmer=_stemmer, stopwords="en", show_progress=False),
                show_progress=False,
            )

    def __len__(self) -> int:
        return len(self.articles)

    def search(self, query: str, vector: Vectors, top_k: int = 4) -> list[Hit]:
        """Articles best first. Cheap (a 100s-row matrix product): runs on the loop."""
        n = len(self.articles)
        if n == 0 or not query.strip():
            return []
        cosines = self.vectors @ vector
        dense = np.full(n, -1.0, dtype=np.float32)
        np.maximum.at(dense, self._entry_article, cosines)
        lexical = np.zeros(n, dtype=np.float32)
        tokens = _tokenize([query])[0]
        if self._bm25 is not None and tokens:
            raw = np.asarray(self._bm25.get_scores(tokens), dtype=np.float32)
            np.maximum.at(lexical, self._entry_article, raw)
            top = float(lexical.max())
            if top > 0:
                lexical /= top
        fused = dense + BM25_WEIGHT * lexical
        order = np.argsort(-fused, kind="stable")[: max(top_k, 1)]
        by_dense = np.argsort(-dense, kind="stable")[:2]
        hits = []
        for a in order:
            # Margin over the closest *other* article: negative for all but the best.
            margin = float(dense[a])
            if n > 1:
                rival = by_dense[1] if a == by_dense[0] else by_dense[0]
                margin -= float(dense[rival])
            hits.append(
                Hit(
                    article=self.articles[a],
                    score=float(fused[a]),
                    dense=float(dense[a]),
                    lexical=float(lexical[a]),
                    confidence=confidence(float(dense[a]), margin),
                    chunk=self._best_chunk(int(a), cosines),
                    matched=self._best_entry(int(a), cosines),
                )
            )
        return hits

    def _best_chunk(self, article: int, cosines: Vectors) -> Chunk | None:
        rows = self._chunk_rows[article]
        if not rows:
            return None
        best = max(rows, key=lambda r: float(cosines[r]))
        chunk_index = self.entries[best].chunk
        assert chunk_index is not None
        return self.articles[article].chunks[chunk_index]

    def _best_entry(self, article: int, cosines: Vectors) -> str:
        rows = np.flatnonzero(self._entry_article == article)
        return self.entries[int(rows[np.argmax(cosines[rows])])].text

    # Persistence ---------------------------------------------------------------

    def save(self, directory: Path) -> Path:
        """Write atomically under directory/key (a concurrent writer may win: fine)."""
        directory.mkdir(parents=True, exist_ok=True)
        final = directory / self.key
        tmp = Path(tempfile.mkdtemp(prefix=f".{self.key}-", dir=directory))
        try:
            np.save(tmp / "vectors.npy", self.vectors)
            meta = {
                "version": INDEX_VERSION,
                "key": self.key,
                "created": time.time(),
                "articles": [a.id for a in self.articles],
                "entries": [
                    {"article": e.article, "kind": e.kind, "chunk": e.chunk, "text": e.text}
                    for e in self.entries
                ],
            }
            (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1))
            # A folder already there is stale or damaged (we only save after a failed
            # load): move it aside first, since a directory cannot replace a full one.
            stale = None
            if final.exists():
                stale = Path(tempfile.mkdtemp(prefix=f".{self.key}-stale-", dir=directory))
                os.replace(final, stale / "old")
            os.replace(tmp, final)
            if stale is not None:
                shutil.rmtree(stale, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return final


def _prune(directory: Path, keep: int) -> None:
    """Drop all but the newest `keep` saved indexes: every article edit leaves one."""
    saved = [p for p in directory.iterdir() if p.is_dir() and p.name.startswith("v")]
    saved.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for old in saved[keep:]:
        shutil.rmtree(old, ignore_errors=True)


def _load_saved(folder: Path, articles: list[Article], entries: list[Entry]) -> Vectors | None:
    meta_file, vectors_file = folder / "meta.json", folder / "vectors.npy"
    if not (meta_file.exists() and vectors_file.exists()):
        return None
    try:
        meta: dict[str, Any] = json.loads(meta_file.read_text())
        vectors: Vectors = np.load(vectors_file).astype(np.float32, copy=False)
    except (OSError, ValueError) as exc:
        log.warning("index.unreadable", folder=str(folder), error=str(exc))
        return None
    stored = [(e["article"], e["kind"], e["chunk"], e["text"]) for e in meta.get("entries", [])]
    expected = [(e.article, e.kind, e.chunk, e.text) for e in entries]
    if (
        meta.get("version") != INDEX_VERSION
        or meta.get("articles") != [a.id for a in articles]
        or stored != expected
        or vectors.shape[0] != len(entries)
    ):
        log.warning("index.stale", folder=str(folder))
        return None
    return vectors


async def load_or_build(knowledge_path: Path, index_dir: Path, encoder: Encoder) -> HybridIndex:
    """The index for the articles under `knowledge_path`, built only if not on disk."""
    started = time.perf_counter()
    key = f"v{INDEX_VERSION}-" + content_hash(
        knowledge_path, encoder.model_name, f"seq{MAX_SEQ_TOKENS}"
    )
    articles = load_articles(knowledge_path)
    entries = build_entries(articles)
    vectors = _load_saved(index_dir / key, articles, entries)
    rebuilt = vectors is None
    if vectors is None:
        vectors = await encoder.encode_many([e.text for e in entries])
    index = HybridIndex(key, articles, entries, vectors, rebuilt=rebuilt)
    if rebuilt:
        try:
            index.save(index_dir)
            _prune(index_dir, keep=KEEP_INDEXES)
        except OSError as exc:
            # A read-only data dir costs a rebuild per start, not the service.
            log.warning("index.save_failed", dir=str(index_dir), error=str(exc))
    log.info(
        "index.ready",
        key=key,
        articles=len(articles),
        entries=len(entries),
        rebuilt=rebuilt,
        seconds=round(time.perf_counter() - started, 2),
    )
    return index
