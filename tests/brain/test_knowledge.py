"""The knowledge base: the bundled sample and how any folder of articles is read."""

from __future__ import annotations

from pathlib import Path

from helpdesk.brain.knowledge import (
    MAX_CHUNK_WORDS,
    content_hash,
    load_articles,
    parse_article,
)
from helpdesk.config import SAMPLE_KNOWLEDGE_PATH


def test_sample_knowledge_base_has_about_twenty_complete_articles() -> None:
    articles = load_articles(SAMPLE_KNOWLEDGE_PATH)
    assert 18 <= len(articles) <= 25
    topics = {a.url.split("/")[3] for a in articles if a.url}
    assert {"shipping", "returns", "billing", "account", "contact"} <= topics
    for article in articles:
        assert article.title and article.url
        assert article.url.startswith("https://help.northwind.example/")
        assert 2 <= len(article.questions) <= 4, article.id
        assert article.chunks, article.id
        assert not article.body.startswith("# "), "the title heading is not repeated"
        for chunk in article.chunks:
            assert chunk.word_count <= MAX_CHUNK_WORDS + 40, (article.id, chunk.heading)


def test_long_articles_are_chunked_by_heading_then_paragraph() -> None:
    paragraph = "Our warehouse packs every parcel with care and recycled paper. " * 12
    source = "\n".join(
        [
            "---",
            "title: Packing",
            "url: https://help.example/packing",
            "tags: packing, eco",
            "---",
            "# Packing",
            "",
            "Short intro.",
            "",
            "## Materials",
            "",
            paragraph,
            "",
            paragraph,
            "",
            paragraph,
            "",
            "## Gift wrap",
            "",
            "Gift wrap costs €3.50 per item and includes a handwritten card of your choice, "
            "written by our team in the warehouse before the parcel is sealed.",
            "",
            "```",
            "# not a heading inside a code block",
            "```",
        ]
    )
    article = parse_article("packing", source)
    assert article.tags == ("packing", "eco")
    headings = [c.heading for c in article.chunks]
    assert headings.count("Materials") >= 2, "a long section is split by paragraph"
    assert headings[-1] == "Gift wrap"
    assert "not a heading" in article.chunks[-1].text
    assert article.chunks[0].text.startswith("Short intro."), "a tiny intro joins the next chunk"
    assert all(c.word_count <= MAX_CHUNK_WORDS + 40 for c in article.chunks)


def test_a_broken_article_is_skipped_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "good.md").write_text("---\ntitle: Good\n---\nSome text.\n")
    (tmp_path / "untitled.md").write_text("---\nurl: https://x.example\n---\nno title here\n")
    (tmp_path / "heading-title.md").write_text("# From the heading\n\nText.\n")
    (tmp_path / "bad-yaml.md").write_text("---\ntitle: [unclosed\n---\nText.\n")
    (tmp_path / "latin1.md").write_bytes("---\ntitle: Caf\xe9\n---\n".encode("latin-1"))
    articles = load_articles(tmp_path)
    assert sorted(a.title for a in articles) == ["From the heading", "Good"]


def test_questions_may_contain_commas() -> None:
    article = parse_article("x", "---\ntitle: X\nquestions: Hi, where is my order?\n---\nBody.\n")
    assert article.questions == ("Hi, where is my order?",)


def test_content_hash_follows_contents_not_timestamps(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("---\ntitle: A\n---\nAlpha.\n")
    first = content_hash(tmp_path, "model")
    (tmp_path / "a.md").write_text("---\ntitle: A\n---\nAlpha.\n")
    assert content_hash(tmp_path, "model") == first
    assert content_hash(tmp_path, "other-model") != first
    (tmp_path / "a.md").write_text("---\ntitle: A\n---\nAlpha, changed.\n")
    assert content_hash(tmp_path, "model") != first
