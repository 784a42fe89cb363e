"""The index is persisted next to the data and rebuilt only when articles change."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from helpdesk.brain import Brain, load_brain
from helpdesk.brain.build_process import load_or_build
from helpdesk.brain.embeddings import Encoder
from helpdesk.config import Settings

ARTICLES = ("order-tracking", "refund-timing", "reset-password")


async def test_index_is_saved_then_reused_until_an_article_changes(
    kb_copy: Callable[..., Path], tmp_path: Path
) -> None:
    kb = kb_copy(*ARTICLES)
    index_dir = tmp_path / "index"
    encoder = Encoder("all-MiniLM-L6-v2")

    first = await load_or_build(kb, index_dir, encoder)
    assert first.rebuilt and len(first) == 3
    stored = index_dir / first.key
    assert (stored / "vectors.npy").is_file()
    meta = json.loads((stored / "meta.json").read_text())
    assert meta["articles"] == sorted(ARTICLES)
    written = (stored / "vectors.npy").stat().st_mtime_ns

    again = await load_or_build(kb, index_dir, encoder)
    assert not again.rebuilt and again.key == first.key
    assert (stored / "vectors.npy").stat().st_mtime_ns == written, "nothing re-embedded"
    assert (again.vectors == first.vectors).all()

    article = kb / "refund-timing.md"
    article.write_text(article.read_text().replace("5 working days", "7 working days"))
    changed = await load_or_build(kb, index_dir, encoder)
    assert changed.rebuilt and changed.key != first.key
    assert (index_dir / changed.key / "vectors.npy").is_file()
    assert encoder.encoded == 0, "every build ran in a child process"


async def test_a_damaged_index_is_rebuilt(kb_copy: Callable[..., Path], tmp_path: Path) -> None:
    kb = kb_copy(*ARTICLES)
    encoder = Encoder("all-MiniLM-L6-v2")
    first = await load_or_build(kb, tmp_path / "index", encoder)
    (tmp_path / "index" / first.key / "meta.json").write_text("{not json")
    again = await load_or_build(kb, tmp_path / "index", encoder)
    assert again.rebuilt
    assert not (await load_or_build(kb, tmp_path / "index", encoder)).rebuilt


async def test_reindex_swaps_in_new_articles(
    kb_copy: Callable[..., Path], make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    kb = kb_copy(*ARTICLES)
    brain: Brain = await load_brain(
        make_settings(knowledge_path=kb, data_dir=tmp_path / "var", answer_threshold=0.5)
    )
    assert brain.article_count == 3
    assert (await brain.answer("do you ship to Canada")).needs_human

    (kb / "shipping-abroad.md").write_text(
        "---\ntitle: Shipping to Canada\nurl: https://help.northwind.example/canada\n"
        "questions:\n  - Do you deliver to Canada?\n---\n"
        "Yes: we ship to Canada in 7-12 working days for €24.95.\n"
    )
    assert await brain.reindex(kb) == 4
    assert brain.article_count == 4
    answer = await brain.answer("do you ship to Canada")
    assert not answer.needs_human
    assert answer.sources[0].title == "Shipping to Canada"
    await brain.aclose()


async def test_out_of_scope_examples_are_never_answered_and_lower_confidence(
    kb_copy: Callable[..., Path], make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    kb = kb_copy(*ARTICLES)
    brain = await load_brain(make_settings(knowledge_path=kb, data_dir=tmp_path / "var"))
    question = "where is my pizza delivery"
    before = (await brain.retrieve(question))[0]
    assert before.article.id == "order-tracking"

    (kb / "not-ours.md").write_text(
        "---\ntitle: Food delivery\nout_of_scope: true\nquestions:\n"
        "  - where is my pizza\n  - my takeaway food is late\n  - track my food delivery\n---\n"
    )
    assert await brain.reindex(kb) == 3, "out-of-scope examples are not an article"
    assert brain.index.has_negatives
    hits = await brain.retrieve(question)
    assert [h.article.id for h in hits] == [h.article.id for h in hits if h.article.id in ARTICLES]
    assert hits[0].confidence < before.confidence / 2
    assert (await brain.answer(question)).needs_human
    tracking = await brain.answer("how do I track my order")
    assert not tracking.needs_human and tracking.sources[0].article_id == "order-tracking"
    await brain.aclose()
