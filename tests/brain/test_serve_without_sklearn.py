"""The service never imports scikit-learn (~90 MB of memory), whether its index is on
disk already or has to be built first (the build runs in a child process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np

from helpdesk.brain import Brain
from helpdesk.brain.build_process import load_or_build
from helpdesk.brain.embeddings import Encoder
from helpdesk.brain.index import INDEX_VERSION
from helpdesk.config import Settings

ARTICLES = ("order-tracking", "refund-timing", "reset-password")

SERVE = textwrap.dedent(
    """
    import asyncio, json, sys
    from pathlib import Path

    import helpdesk.app  # everything the service imports
    from helpdesk.brain import load_brain
    from helpdesk.config import Settings

    async def main() -> None:
        settings = Settings(
            data_dir=Path(sys.argv[1]), knowledge_path=Path(sys.argv[2]),
            llm_base_url=None, _env_file=None,
        )
        brain = await load_brain(settings)
        answer = await brain.answer(sys.argv[3])
        hits = await brain.retrieve(sys.argv[3])
        print(json.dumps({
            "rebuilt": brain.index.rebuilt,
            "top": hits[0].article.id,
            "needs_human": answer.needs_human,
            "sklearn": sorted(m for m in sys.modules if m.split(".")[0] == "sklearn"),
        }))

    asyncio.run(main())
    """
)


def _serve(data_dir: Path, knowledge: Path, question: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    done = subprocess.run(
        [sys.executable, "-c", SERVE, str(data_dir), str(knowledge), question],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_a_persisted_index_answers_without_importing_sklearn(
    offline_brain: Brain, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings()  # offline_brain built and saved the sample index here
    assert (settings.index_dir / offline_brain.index.key / "heads.npz").is_file()
    result = _serve(settings.data_dir, settings.knowledge_path, "how do I reset my password")
    assert result["sklearn"] == []
    assert result["rebuilt"] is False
    assert result["top"] == "reset-password" and result["needs_human"] is False


def test_a_fresh_knowledge_folder_is_built_outside_the_serving_process(
    kb_copy: Callable[..., Path], tmp_path: Path
) -> None:
    kb, data_dir = kb_copy(*ARTICLES), tmp_path / "var"
    result = _serve(data_dir, kb, "how do I reset my password")
    assert result["rebuilt"] is True
    assert result["sklearn"] == []
    assert result["top"] == "reset-password" and result["needs_human"] is False
    assert len(list((data_dir / "index").glob("v*/heads.npz"))) == 1, "saved for next start"


async def test_loaded_heads_score_as_the_fitted_ones(
    kb_copy: Callable[..., Path], tmp_path: Path
) -> None:
    kb = kb_copy(*ARTICLES)
    encoder = Encoder("all-MiniLM-L6-v2")
    built = await load_or_build(kb, tmp_path / "index", encoder)
    loaded = await load_or_build(kb, tmp_path / "index", encoder)
    assert built.rebuilt and not loaded.rebuilt
    assert loaded.heads.dense is not None and loaded.heads.lexical is not None
    questions = ["where is my parcel", "I forgot my password", "refund", "", "x y z", "ok"]
    vectors = await encoder.encode_many(questions)
    for got, want in zip(
        loaded.heads.log_proba(vectors, questions, 3),
        built.heads.log_proba(vectors, questions, 3),
        strict=True,
    ):
        np.testing.assert_array_equal(got, want)


async def test_an_index_with_missing_or_damaged_heads_or_an_old_version_is_rebuilt(
    kb_copy: Callable[..., Path], tmp_path: Path
) -> None:
    kb = kb_copy(*ARTICLES)
    encoder = Encoder("all-MiniLM-L6-v2")
    first = await load_or_build(kb, tmp_path / "index", encoder)
    assert first.key.startswith(f"v{INDEX_VERSION}-")
    stored = tmp_path / "index" / first.key

    (stored / "heads.npz").unlink()  # e.g. a version 3 index, which kept head.npz only
    again = await load_or_build(kb, tmp_path / "index", encoder)
    assert again.rebuilt and (stored / "heads.npz").is_file()

    (stored / "heads.npz").write_bytes(b"PK\x03\x04 damaged")
    assert (await load_or_build(kb, tmp_path / "index", encoder)).rebuilt

    meta = json.loads((stored / "meta.json").read_text())
    (stored / "meta.json").write_text(json.dumps({**meta, "version": INDEX_VERSION - 1}))
    assert (await load_or_build(kb, tmp_path / "index", encoder)).rebuilt
    assert not (await load_or_build(kb, tmp_path / "index", encoder)).rebuilt
