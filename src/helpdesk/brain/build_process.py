"""The service's index: loaded from disk, or built in a child process first.

Fitting the heads imports scikit-learn (~90 MB) and embedding the corpus leaves
hundreds of MB of temporaries in the C heap: built in the serving process, a first
start or a reindex would keep all of that for the life of the service. The child
writes the index where saved indexes live and exits; the service then loads it like
any persisted index (plain arrays).

Child protocol: `main([REPORT, KNOWLEDGE, INDEX_DIR, MODEL, THREADS?])` writes JSON to
the file REPORT, `{"key", "folder", "scratch", "rebuilt"}` or `{"error"}`. Its
stdout and stderr are the service's, so its logs land with the service's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpdesk.brain import index as ix
from helpdesk.brain.embeddings import MAX_SEQ_TOKENS, Encoder
from helpdesk.brain.knowledge import content_hash, load_articles

# A build whose articles were edited meanwhile is redone against the new ones; an
# editor saving all the time must not keep the service from starting.
BUILD_ATTEMPTS = 3

# Kept short in the exception: the whole traceback is in the child's stderr (the log).
_ERROR_CHARS = 2000

# `-c`, not `-m`: importing helpdesk.brain imports this module before runpy would
# run it a second time as __main__.
_CHILD = "import sys; from helpdesk.brain.build_process import main; sys.exit(main(sys.argv[1:]))"


class IndexBuildError(RuntimeError):
    """The child process could not build the index."""


@dataclass(frozen=True, slots=True)
class Built:
    key: str
    folder: Path
    # Set when the index dir was not writable: a scratch folder the caller deletes.
    scratch: Path | None
    rebuilt: bool


def knowledge_key(knowledge_path: Path, encoder: Encoder) -> str:
    """Key of the index over the article files under `knowledge_path`, as they are now."""
    return f"v{ix.INDEX_VERSION}-" + content_hash(
        knowledge_path, encoder.revision, f"seq{MAX_SEQ_TOKENS}"
    )


async def load_or_build(knowledge_path: Path, index_dir: Path, encoder: Encoder) -> ix.HybridIndex:
    """The index for the articles under `knowledge_path`, built only if not on disk."""
    started = time.perf_counter()
    for _ in range(BUILD_ATTEMPTS):
        key = await asyncio.to_thread(knowledge_key, knowledge_path, encoder)
        articles = await asyncio.to_thread(load_articles, knowledge_path)
        entries = ix.build_entries(articles)
        saved = await asyncio.to_thread(ix.load_saved, index_dir / key, articles, entries)
        rebuilt = saved is None
        if saved is None:
            built = await build_in_child(
                knowledge_path, index_dir, encoder.model_name, encoder.threads
            )
            if built.key != key:
                continue  # the articles changed between our read and the child's
            try:
                saved = await asyncio.to_thread(ix.load_saved, built.folder, articles, entries)
            finally:
                if built.scratch is not None:
                    shutil.rmtree(built.scratch, ignore_errors=True)
            if saved is None:
                continue
        vectors, heads = saved
        index = await asyncio.to_thread(
            ix.HybridIndex, key, articles, entries, vectors, rebuilt=rebuilt, heads=heads
        )
        ix.log_ready(index, started)
        return index
    raise IndexBuildError(
        f"the articles under {knowledge_path} kept changing during {BUILD_ATTEMPTS} builds"
    )


async def build_in_child(
    knowledge_path: Path, index_dir: Path, model_name: str, threads: int | None = None
) -> Built:
    """Build (or find) the index of `knowledge_path` in a child process; wait for it."""
    with tempfile.TemporaryDirectory(prefix="helpdesk-build-") as scratch:
        report_file = Path(scratch) / "report.json"
        arguments = [str(report_file), str(knowledge_path), str(index_dir), model_name]
        if threads:
            arguments.append(str(threads))
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _CHILD, *arguments, stdin=asyncio.subprocess.DEVNULL
        )
        try:
            await child.wait()
        except BaseException:
            # Cancelled (shutdown) or interrupted: an orphan build would keep eating a core.
            with contextlib.suppress(ProcessLookupError):
                child.kill()
            await asyncio.shield(child.wait())
            raise
        report = _read_report(report_file)
    if child.returncode != 0 or report is None or "error" in report:
        reason = (report or {}).get("error") or f"the process exited with code {child.returncode}"
        raise IndexBuildError(f"building the index of {knowledge_path} failed: {reason}")
    return Built(
        key=str(report["key"]),
        folder=Path(report["folder"]),
        scratch=Path(report["scratch"]) if report.get("scratch") else None,
        rebuilt=bool(report["rebuilt"]),
    )


def _read_report(file: Path) -> dict[str, Any] | None:
    try:
        report = json.loads(file.read_text())
    except (OSError, ValueError):
        return None  # killed (e.g. out of memory) before it could write one
    return report if isinstance(report, dict) else None


async def _build(
    knowledge_path: Path, index_dir: Path, model_name: str, threads: int | None
) -> Built:
    encoder = Encoder(model_name, threads=threads)
    key = knowledge_key(knowledge_path, encoder)
    articles = load_articles(knowledge_path)
    entries = ix.build_entries(articles)
    final = index_dir / key
    if ix.load_saved(final, articles, entries) is not None:
        return Built(key, final, scratch=None, rebuilt=False)  # a concurrent build won
    index = await ix.build(key, articles, entries, encoder)
    try:
        return Built(key, ix.save_and_prune(index, index_dir), scratch=None, rebuilt=True)
    except OSError as exc:
        # A read-only data dir costs a rebuild per start, not the service.
        ix.log.warning("index.save_failed", dir=str(index_dir), error=str(exc))
        scratch = Path(tempfile.mkdtemp(prefix="helpdesk-index-"))
        return Built(key, index.save(scratch), scratch=scratch, rebuilt=True)


def main(argv: list[str]) -> int:
    """The child: build, write the report, exit (taking the build's memory along)."""
    from helpdesk.logs import configure_logging

    # The service reads its logging settings from the same environment.
    configure_logging(
        os.environ.get("HELPDESK_LOG_LEVEL", "INFO"),
        os.environ.get("HELPDESK_LOG_FORMAT", "console"),
    )
    report_file, knowledge_path, index_dir = Path(argv[0]), Path(argv[1]), Path(argv[2])
    model_name, threads = argv[3], int(argv[4]) if len(argv) > 4 else None
    try:
        built = asyncio.run(_build(knowledge_path, index_dir, model_name, threads))
    except Exception as exc:
        import traceback

        traceback.print_exc()
        error = f"{type(exc).__name__}: {exc}"[:_ERROR_CHARS]
        report_file.write_text(json.dumps({"error": error}))
        return 1
    report = {
        "key": built.key,
        "folder": str(built.folder),
        "scratch": str(built.scratch) if built.scratch else None,
        "rebuilt": built.rebuilt,
    }
    report_file.write_text(json.dumps(report))
    return 0
