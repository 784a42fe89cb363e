"""Hybrid retrieval (dense MiniLM + BM25 + light classifier heads) over articles.

Each article contributes several entries: its title, every example question, every
chunk. Articles are ranked and given a calibrated confidence by
`helpdesk.brain.confidence`; the chunk that matched best is the one worth quoting.
The index (vectors and both heads, as plain arrays) is persisted next to the data, so
loading it needs no scikit-learn (see `helpdesk.brain.heads`). Building it here
(`assemble`, `build`) is for batch jobs; the service builds in a child process
(`helpdesk.brain.build_process.load_or_build`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import bm25s
import numpy as np
import Stemmer
import structlog

from helpdesk.brain import confidence as conf
from helpdesk.brain.embeddings import MAX_SEQ_TOKENS, Encoder, Vectors
from helpdesk.brain.heads import DenseHead, Floats, Heads, LexicalHead
from helpdesk.brain.knowledge import Article, Chunk

log = structlog.get_logger(__name__)

# Bump when entries, chunking or the stored format change: old indexes are then ignored.
# 4: both heads saved as arrays in heads.npz (3 kept only the dense head, in head.npz).
INDEX_VERSION = 4

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
    confidence: float  # 0..1: calibrated probability that this article answers
    chunk: Chunk | None  # the chunk closest to the query
    matched: str  # the entry text that matched best (example question, title or chunk)


@dataclass(frozen=True, slots=True)
class Ranking:
    """Scores of a batch of queries (rows) over every article (columns)."""

    fused: Floats  # ranking score; -inf for out-of-scope articles
    dense: Floats  # best cosine
    lexical: Floats  # BM25, 0..1 within each query
    confidence: Floats  # calibrated; 0 for out-of-scope articles
    features: dict[str, Floats]  # calibration features, (queries, articles) each


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


def _top_mean(cosines: Floats, start: int, stop: int, k: int) -> Floats:
    block = cosines[:, start:stop]
    if block.shape[1] <= k:
        out: Floats = block.mean(axis=1)
        return out
    out = np.partition(block, -k, axis=1)[:, -k:].mean(axis=1)
    return out


class HybridIndex:
    def __init__(
        self,
        key: str,
        articles: list[Article],
        entries: list[Entry],
        vectors: Vectors,
        *,
        rebuilt: bool,
        heads: Heads | None = None,
    ) -> None:
        """Fits whichever of the two heads `heads` lacks (which imports scikit-learn)."""
        if len(entries) != len(vectors):
            raise ValueError("one vector per entry expected")
        self.key = key
        self.articles = articles
        self.entries = entries
        self.vectors = vectors
        self.rebuilt = rebuilt
        self._entry_article = np.array([e.article for e in entries], dtype=np.int64)
        if np.any(np.diff(self._entry_article) < 0):
            raise ValueError("entries must be grouped by article")
        # Every article has a title entry, so each owns a non-empty, contiguous row range.
        self._bounds = np.searchsorted(self._entry_article, np.arange(len(articles) + 1))
        self._chunk_rows: list[list[int]] = [[] for _ in articles]
        for row, entry in enumerate(entries):
            if entry.kind == "chunk":
                self._chunk_rows[entry.article].append(row)
        self._oos = np.array([a.out_of_scope for a in articles], dtype=bool)
        self.calibrator = conf.calibrator_for(bool(self._oos.any()))
        self._bm25: bm25s.BM25 | None = None
        self.heads = Heads(None, None)
        if entries:
            corpus = [f"{e.text} {' '.join(articles[e.article].tags)}".strip() for e in entries]
            self._bm25 = bm25s.BM25()
            self._bm25.index(
                bm25s.tokenize(corpus, stemmer=_stemmer, stopwords="en", show_progress=False),
                show_progress=False,
            )
            # One article (or none) leaves nothing to tell apart.
            if len(articles) >= 2:
                given = heads or Heads(None, None)
                self.heads = Heads(
                    given.dense or DenseHead.fit(vectors, self._entry_article),
                    given.lexical
                    or LexicalHead.fit([e.text for e in entries], self._entry_article),
                )

    def __len__(self) -> int:
        """Articles the bot can answer from (out-of-scope examples do not count)."""
        return int((~self._oos).sum())

    @property
    def has_negatives(self) -> bool:
        return bool(self._oos.any())

    def rank(self, queries: list[str], vectors: Vectors) -> Ranking:
        """Score a batch of queries against every article (vectorised: eval and search)."""
        cosines = vectors @ self.vectors.T
        return self._rank(queries, vectors, cosines)

    def _rank(self, queries: list[str], vectors: Vectors, cosines: Floats) -> Ranking:
        n, q = len(self.articles), len(queries)
        starts = self._bounds[:-1]
        dense = np.maximum.reduceat(cosines, starts, axis=1)
        neighbours = np.empty((q, n), dtype=np.float32)
        for a in range(n):
            neighbours[:, a] = _top_mean(cosines, starts[a], self._bounds[a + 1], conf.NEIGHBOURS)
        lexical = np.zeros((q, n), dtype=np.float32)
        if self._bm25 is not None:
            for i, tokens in enumerate(_tokenize(queries)):
                if not tokens:
                    continue
                raw = np.asarray(self._bm25.get_scores(tokens), dtype=np.float32)
                np.maximum.at(lexical[i], self._entry_article, raw)
            top = lexical.max(axis=1, keepdims=True)
            lexical = np.divide(lexical, top, out=np.zeros_like(lexical), where=top > 0)
        dense_logp, lexical_logp = self.heads.log_proba(vectors, queries, n)
        fused = (
            dense_logp
            + conf.NEIGHBOUR_WEIGHT * neighbours
            + conf.BM25_WEIGHT * lexical
            + conf.LEXICAL_WEIGHT * lexical_logp
        )
        if self._oos.any():
            oos_p = np.exp(dense_logp[:, self._oos]).sum(axis=1, keepdims=True)
            oos_logp = np.log(np.maximum(oos_p, 1e-6)).astype(np.float32)
        else:
            oos_logp = np.zeros((q, 1), dtype=np.float32)
        features = {
            "dense_logp": dense_logp,
            "neighbours": neighbours,
            "lexical_logp": lexical_logp,
            "oos_logp": np.broadcast_to(oos_logp, (q, n)),
        }
        confidence = self.calibrator(features)
        fused[:, self._oos] = -np.inf
        confidence[:, self._oos] = 0.0
        return Ranking(fused, dense, lexical, confidence, features)

    def search(self, query: str, vector: Vectors, top_k: int = 4) -> list[Hit]:
        """Articles best first. Cheap (one matrix product): runs on the loop."""
        if len(self) == 0 or not query.strip():
            return []
        cosines = self.vectors @ vector
        ranking = self._rank([query], vector[None, :], cosines[None, :])
        fused = ranking.fused[0]
        order = np.argsort(-fused, kind="stable")[: max(min(top_k, len(self)), 1)]
        return [
            Hit(
                article=self.articles[a],
                score=float(fused[a]),
                dense=float(ranking.dense[0, a]),
                lexical=float(ranking.lexical[0, a]),
                confidence=float(ranking.confidence[0, a]),
                chunk=self._best_chunk(int(a), cosines),
                matched=self._best_entry(int(a), cosines),
            )
            for a in order
        ]

    def _best_chunk(self, article: int, cosines: Vectors) -> Chunk | None:
        rows = self._chunk_rows[article]
        if not rows:
            return None
        best = max(rows, key=lambda r: float(cosines[r]))
        chunk_index = self.entries[best].chunk
        assert chunk_index is not None
        return self.articles[article].chunks[chunk_index]

    def _best_entry(self, article: int, cosines: Vectors) -> str:
        start, stop = int(self._bounds[article]), int(self._bounds[article + 1])
        return self.entries[start + int(np.argmax(cosines[start:stop]))].text

    # Persistence ---------------------------------------------------------------

    def save(self, directory: Path) -> Path:
        """Write atomically under directory/key (a concurrent writer may win: fine)."""
        directory.mkdir(parents=True, exist_ok=True)
        final = directory / self.key
        tmp = Path(tempfile.mkdtemp(prefix=f".{self.key}-", dir=directory))
        try:
            np.save(tmp / "vectors.npy", self.vectors)
            arrays = self.heads.arrays()
            if arrays:
                np.savez(tmp / "heads.npz", allow_pickle=False, **arrays)
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


def save_and_prune(index: HybridIndex, directory: Path) -> Path:
    folder = index.save(directory)
    # Every article edit leaves an index behind: keep only the newest few.
    saved = [p for p in directory.iterdir() if p.is_dir() and p.name.startswith("v")]
    saved.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for old in saved[KEEP_INDEXES:]:
        shutil.rmtree(old, ignore_errors=True)
    return folder


def load_saved(
    folder: Path, articles: list[Article], entries: list[Entry]
) -> tuple[Vectors, Heads | None] | None:
    """The vectors and heads saved in `folder`, if they are exactly those of `entries`."""
    meta_file, vectors_file = folder / "meta.json", folder / "vectors.npy"
    if not (meta_file.exists() and vectors_file.exists()):
        return None
    try:
        meta: dict[str, Any] = json.loads(meta_file.read_text())
        vectors: Vectors = np.load(vectors_file, allow_pickle=False).astype(np.float32, copy=False)
        heads = None
        if (folder / "heads.npz").exists():
            with np.load(folder / "heads.npz", allow_pickle=False) as saved:
                heads = Heads.from_arrays({name: saved[name] for name in saved.files})
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        log.warning("index.unreadable", folder=str(folder), error=str(exc))
        return None
    stored = [(e["article"], e["kind"], e["chunk"], e["text"]) for e in meta.get("entries", [])]
    expected = [(e.article, e.kind, e.chunk, e.text) for e in entries]
    if (
        meta.get("version") != INDEX_VERSION
        or meta.get("articles") != [a.id for a in articles]
        or stored != expected
        or vectors.shape[0] != len(entries)
        or (_needs_heads(articles, entries) and not _complete(heads))
    ):
        log.warning("index.stale", folder=str(folder))
        return None
    return vectors, heads


def _complete(heads: Heads | None) -> bool:
    return heads is not None and heads.dense is not None and heads.lexical is not None


def _needs_heads(articles: list[Article], entries: list[Entry]) -> bool:
    # As in HybridIndex: one article (or none) leaves nothing to tell apart.
    return bool(entries) and len(articles) >= 2


def _fit_lexical(entries: list[Entry], n_articles: int) -> LexicalHead | None:
    if n_articles < 2 or not entries:
        return None
    labels = np.array([e.article for e in entries], dtype=np.int64)
    return LexicalHead.fit([e.text for e in entries], labels)


def entries_key(articles: list[Article], encoder: Encoder) -> str:
    """Key of an index over articles that exist only in memory (e.g. built from a dataset)."""
    digest = hashlib.sha256(f"{encoder.revision}\0seq{MAX_SEQ_TOKENS}\0".encode())
    for article in articles:
        digest.update(f"{article.id}\0{article.out_of_scope}\0".encode())
        for entry in build_entries([article]):
            digest.update(f"{entry.kind}\0{entry.text}\0".encode())
    return f"v{INDEX_VERSION}-m{digest.hexdigest()[:20]}"


async def build(
    key: str,
    articles: list[Article],
    entries: list[Entry],
    encoder: Encoder,
    progress: Callable[[int], None] | None = None,
) -> HybridIndex:
    """Embed every entry and fit both heads (imports scikit-learn): batch jobs only."""
    # The lexical head needs no vectors: fit it while the model embeds (~12 s saved
    # on 15,000 examples), and in a thread either way to keep the loop free.
    lexical = asyncio.ensure_future(asyncio.to_thread(_fit_lexical, entries, len(articles)))
    try:
        vectors = await encoder.encode_many([e.text for e in entries], progress=progress)
    finally:
        heads = Heads(None, await lexical)
    return await asyncio.to_thread(
        HybridIndex, key, articles, entries, vectors, rebuilt=True, heads=heads
    )


async def assemble(
    key: str,
    articles: list[Article],
    index_dir: Path,
    encoder: Encoder,
    progress: Callable[[int], None] | None = None,
) -> HybridIndex:
    """Load the index saved under `key`, or build and save it, in this process."""
    started = time.perf_counter()
    entries = build_entries(articles)
    saved = await asyncio.to_thread(load_saved, index_dir / key, articles, entries)
    if saved is not None:
        vectors, heads = saved
        index = await asyncio.to_thread(
            HybridIndex, key, articles, entries, vectors, rebuilt=False, heads=heads
        )
    else:
        index = await build(key, articles, entries, encoder, progress)
        try:
            save_and_prune(index, index_dir)
        except OSError as exc:
            # A read-only data dir costs a rebuild per run, not the run.
            log.warning("index.save_failed", dir=str(index_dir), error=str(exc))
    log_ready(index, started)
    return index


def log_ready(index: HybridIndex, started: float) -> None:
    log.info(
        "index.ready",
        key=index.key,
        articles=len(index.articles),
        entries=len(index.entries),
        rebuilt=index.rebuilt,
        seconds=round(time.perf_counter() - started, 2),
    )
