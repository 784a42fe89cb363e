"""Knowledge base: Markdown articles with YAML front matter, split into chunks.

An article file looks like::

    ---
    title: Track your order
    url: https://help.example/shipping/tracking
    tags: [shipping]
    questions:
      - How do I track my order?
    ---
    Body in Markdown, with ## headings.

An article with `out_of_scope: true` is never answered: its `questions` are examples
of what the bot must hand over (small talk, other businesses' topics...), and they
lower the confidence of whatever article a similar question would otherwise match.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import frontmatter
import structlog

log = structlog.get_logger(__name__)

# Chunks are what the offline responder quotes and what dense retrieval sees: small
# enough to stay on topic and under MiniLM's 256-token window, big enough to answer.
MAX_CHUNK_WORDS = 180
MIN_CHUNK_WORDS = 35

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


class KnowledgeError(ValueError):
    """An article file cannot be used (missing title, bad front matter...)."""


@dataclass(frozen=True, slots=True)
class Chunk:
    article_id: str
    heading: str | None
    text: str

    @property
    def word_count(self) -> int:
        return len(self.text.split())


@dataclass(frozen=True, slots=True)
class Article:
    id: str
    title: str
    url: str | None
    body: str
    tags: tuple[str, ...] = ()
    questions: tuple[str, ...] = ()
    chunks: tuple[Chunk, ...] = ()
    out_of_scope: bool = False

    @property
    def word_count(self) -> int:
        return len(self.body.split())


def article_files(path: Path) -> list[Path]:
    """Every Markdown file under `path` (or `path` itself), in a stable order."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise KnowledgeError(f"knowledge path {path} does not exist")
    return sorted(p for p in path.rglob("*.md") if p.is_file() and not p.name.startswith("."))


def content_hash(path: Path, *extra: str) -> str:
    """Hash of every article file's name and bytes, plus `extra` (e.g. the model name).

    Content, not mtimes: a fresh checkout or a copied folder must reuse the index.
    """
    digest = hashlib.sha256()
    for part in extra:
        digest.update(part.encode() + b"\0")
    root = path if path.is_dir() else path.parent
    for file in article_files(path):
        digest.update(file.relative_to(root).as_posix().encode() + b"\0")
        digest.update(file.read_bytes() + b"\0")
    return digest.hexdigest()[:20]


def load_articles(path: Path) -> list[Article]:
    """Parse and chunk every article under `path`; bad files are logged and skipped."""
    root = path if path.is_dir() else path.parent
    articles: list[Article] = []
    for file in article_files(path):
        article_id = file.relative_to(root).with_suffix("").as_posix()
        try:
            articles.append(parse_article(article_id, file.read_text(encoding="utf-8")))
        except Exception as exc:  # bad YAML, bad encoding, no title...
            # One broken file must not take the whole help desk down.
            log.warning("knowledge.article_skipped", file=str(file), error=str(exc))
    log.info("knowledge.loaded", path=str(path), articles=len(articles))
    return articles


def parse_article(article_id: str, source: str) -> Article:
    post = frontmatter.loads(source)
    meta = post.metadata
    title = str(meta.get("title") or "").strip() or _first_heading(post.content)
    if not title:
        raise KnowledgeError(f"article {article_id} has no title")
    url = str(meta["url"]).strip() if meta.get("url") else None
    tags = tuple(str(t).strip() for t in _as_list(meta.get("tags"), ",") if str(t).strip())
    questions = tuple(str(q).strip() for q in _as_list(meta.get("questions")) if str(q).strip())
    body = _strip_title_heading(post.content.strip(), title)
    chunks = tuple(chunk_markdown(article_id, title, body))
    return Article(
        id=article_id,
        title=title,
        url=url,
        body=body,
        tags=tags,
        questions=questions,
        chunks=chunks,
        out_of_scope=_as_bool(meta.get("out_of_scope")),
    )


def _as_bool(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"true", "yes", "1", "on"}
    return bool(value)


def _as_list(value: object, separator: str | None = None) -> list[object]:
    if value is None:
        return []
    if isinstance(value, str):
        # "tags: a, b" is a natural way to write tags; a question may contain commas.
        return list(value.split(separator)) if separator else [value]
    if isinstance(value, list | tuple):
        return list(value)
    raise KnowledgeError(f"expected a list, got {type(value).__name__}")


def _strip_title_heading(body: str, title: str) -> str:
    # "# Title" repeats the front matter; quoting it under a bold title reads twice.
    first, _, rest = body.partition("\n")
    if first.startswith("#") and first.lstrip("#").strip().lower() == title.strip().lower():
        return rest.strip()
    return body


def _first_heading(body: str) -> str:
    for line in body.splitlines():
        match = _HEADING.match(line)
        if match:
            return match.group(2)
    return ""


def chunk_markdown(article_id: str, title: str, body: str) -> list[Chunk]:
    """Split on headings, then on paragraphs when a section is too long.

    Tiny sections (an intro line, a one-sentence heading) are merged into the next
    one so that a quoted chunk can stand on its own as an answer.
    """
    sections = _sections(body, title)
    merged: list[tuple[str | None, str]] = []
    carry: tuple[str | None, str] | None = None
    for heading, text in sections:
        if carry is not None:
            heading = carry[0] if carry[0] is not None else heading
            text = f"{carry[1]}\n\n{text}"
            carry = None
        if len(text.split()) < MIN_CHUNK_WORDS:
            carry = (heading, text)
            continue
        merged.append((heading, text))
    if carry is not None:
        if merged:
            heading, text = merged.pop()
            merged.append((heading, f"{text}\n\n{carry[1]}"))
        else:
            merged.append(carry)
    chunks: list[Chunk] = []
    for heading, text in merged:
        for piece in _split_long(text):
            chunks.append(Chunk(article_id=article_id, heading=heading, text=piece))
    return chunks


def _sections(body: str, title: str) -> list[tuple[str | None, str]]:
    # (heading, heading line, content lines)
    sections: list[tuple[str | None, str | None, list[str]]] = [(None, None, [])]
    in_fence = False
    for line in body.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match is None:
            sections[-1][2].append(line)
            continue
        level, heading = len(match.group(1)), match.group(2)
        # The H1 usually repeats the title: it starts the intro, not a section.
        if level == 1 and heading.strip().lower() == title.strip().lower():
            continue
        sections.append((heading, f"{'#' * max(level, 2)} {heading}", []))
    result: list[tuple[str | None, str]] = []
    for heading, heading_line, lines in sections:
        content = "\n".join(lines).strip()
        if content:
            result.append((heading, f"{heading_line}\n\n{content}" if heading_line else content))
    return result


def _split_long(text: str) -> list[str]:
    if len(text.split()) <= MAX_CHUNK_WORDS:
        return [text]
    pieces: list[str] = []
    current: list[str] = []
    words = 0
    for paragraph in re.split(r"\n\s*\n", text):
        size = len(paragraph.split())
        if current and words + size > MAX_CHUNK_WORDS:
            pieces.append("\n\n".join(current))
            current, words = [], 0
        current.append(paragraph)
        words += size
    if current:
        pieces.append("\n\n".join(current))
    return pieces
