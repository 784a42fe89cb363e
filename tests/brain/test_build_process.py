"""Index builds run in a child process: failures surface, odd data dirs still serve."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from helpdesk.brain.build_process import IndexBuildError, build_in_child, load_or_build
from helpdesk.brain.embeddings import Encoder

ARTICLES = ("order-tracking", "refund-timing", "reset-password")


async def test_a_build_that_fails_in_the_child_raises_a_clear_error(
    kb_copy: Callable[..., Path], tmp_path: Path
) -> None:
    kb = kb_copy(*ARTICLES)
    with pytest.raises(IndexBuildError, match=r"EmbeddingModelError.*no-such-model"):
        await asyncio.wait_for(build_in_child(kb, tmp_path / "index", "no-such-model"), 120)
    assert not (tmp_path / "index").exists()


async def test_an_index_dir_that_cannot_be_written_still_serves_and_leaves_no_temporaries(
    kb_copy: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kb = kb_copy(*ARTICLES)
    index_dir = tmp_path / "index"
    index_dir.write_text("a file where the index folder should be")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))  # where the child falls back to

    index = await load_or_build(kb, index_dir, Encoder("all-MiniLM-L6-v2"))

    assert index.rebuilt and len(index) == 3
    assert index.heads.dense is not None and index.heads.lexical is not None
    left = [p.name for p in scratch.iterdir() if p.name.startswith("helpdesk-")]
    assert left == [], "the fallback copy was deleted once loaded"
