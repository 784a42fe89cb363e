"""Markdown from the brain → Telegram's HTML subset, and splitting into sendable chunks.

Telegram's HTML mode knows only b, i, u, s, code, pre, a, blockquote (and spoilers):
no paragraphs, lists or headings, so those become plain lines. Everything that is
text is escaped, so a stray `<` or `&` in an answer can never break a reply.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markdown_it import MarkdownIt
from markdown_it.token import Token

TELEGRAM_TEXT_LIMIT = 4096

# Raw HTML in the LLM's answer is shown as text, never interpreted.
_MD = MarkdownIt("commonmark", {"html": False}).enable(["strikethrough", "table"])

_SAFE_LINK = re.compile(r"^(https?://|tg://|mailto:)", re.IGNORECASE)
_LANGUAGE = re.compile(r"^[\w+#.-]{1,32}$")
_BULLETS = ("•", "◦", "▪")
_INDENT = "   "
_INLINE_TAGS = {
    "strong_open": "<b>",
    "strong_close": "</b>",
    "em_open": "<i>",
    "em_close": "</i>",
    "s_open": "<s>",
    "s_close": "</s>",
}


def escape(text: str) -> str:
    return html.escape(text, quote=False)


def markdown_to_telegram_html(md: str) -> str:
    """Render Markdown into HTML that Telegram's parse_mode=HTML accepts."""
    return _Renderer().render(_MD.parse(md))


class _Renderer:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pending_breaks = 0
        self.at_block_start = True  # no newlines right after the start or an opening <blockquote>
        self.lists: list[list[int]] = []  # [ordered?, next number] per open list
        self.links: list[bool] = []  # whether each open link emitted an <a>
        self.cells_in_row = 0
        self.quote_depth = 0

    def render(self, tokens: Sequence[Token]) -> str:
        for token in tokens:
            self._block(token)
        return "".join(self.parts).strip()

    def _emit(self, text: str) -> None:
        if not self.at_block_start and self.pending_breaks:
            self.parts.append("\n" * self.pending_breaks)
        self.pending_breaks = 0
        self.at_block_start = False
        self.parts.append(text)

    def _break(self, count: int) -> None:
        self.pending_breaks = max(self.pending_breaks, count)

    def _block(self, token: Token) -> None:
        kind = token.type
        if kind == "inline":
            self._emit(self._inline(token.children or []))
        elif kind == "paragraph_close":
            self._break(1 if token.hidden else 2)
        elif kind == "heading_open":
            self._emit("<b>")
        elif kind == "heading_close":
            self.parts.append("</b>")
            self._break(2)
        elif kind in ("bullet_list_open", "ordered_list_open"):
            start = token.attrGet("start")
            self.lists.append([kind == "ordered_list_open", int(start) if start else 1])
            self._break(1)
        elif kind in ("bullet_list_close", "ordered_list_close"):
            self.lists.pop()
            self._break(1 if self.lists else 2)
        elif kind == "list_item_open":
            self._break(1)
            self._emit(self._list_marker(token))
        elif kind in ("fence", "code_block"):
            self._code_block(token)
        elif kind == "blockquote_open":
            # Telegram refuses nested quotes: only the outermost one becomes a tag.
            self.quote_depth += 1
            if self.quote_depth == 1:
                self._emit("<blockquote>")
                self.at_block_start = True
        elif kind == "blockquote_close":
            self.quote_depth -= 1
            if self.quote_depth == 0:
                self.pending_breaks = 0
                self.parts.append("</blockquote>")
            self._break(2)
        elif kind == "hr":
            self._emit("———")
            self._break(2)
        elif kind == "tr_open":
            self.cells_in_row = 0
        elif kind in ("th_open", "td_open"):
            self._emit(" | " if self.cells_in_row else "")
            self.cells_in_row += 1
            if kind == "th_open":
                self.parts.append("<b>")
        elif kind == "th_close":
            self.parts.append("</b>")
        elif kind == "tr_close":
            self._break(1)
        elif kind == "table_close":
            self._break(2)
        elif kind in ("html_block",):
            self._emit(escape(token.content.rstrip("\n")))
            self._break(2)

    def _list_marker(self, token: Token) -> str:
        ordered, number = self.lists[-1]
        depth = len(self.lists) - 1
        if ordered:
            shown = int(token.info) if token.info.isdigit() else number
            self.lists[-1][1] = shown + 1
            marker = f"{shown}."
        else:
            marker = _BULLETS[min(depth, len(_BULLETS) - 1)]
        return f"{_INDENT * depth}{marker} "

    def _code_block(self, token: Token) -> None:
        code = token.content.rstrip("\n")
        if not code.strip():
            return
        language = token.info.strip().split(" ", 1)[0] if token.info else ""
        if language and _LANGUAGE.match(language):
            body = f'<pre><code class="language-{escape(language)}">{escape(code)}</code></pre>'
        else:
            body = f"<pre>{escape(code)}</pre>"
        self._break(2)
        self._emit(body)
        self._break(2)

    def _inline(self, children: Sequence[Token]) -> str:
        out: list[str] = []
        for child in children:
            kind = child.type
            if kind == "text":
                out.append(escape(child.content))
            elif kind in ("softbreak", "hardbreak"):
                out.append("\n")
            elif kind in _INLINE_TAGS:
                out.append(_INLINE_TAGS[kind])
            elif kind == "code_inline":
                out.append(f"<code>{escape(child.content)}</code>")
            elif kind == "link_open":
                href = str(child.attrGet("href") or "")
                safe = bool(_SAFE_LINK.match(href))
                self.links.append(safe)
                if safe:
                    out.append(f'<a href="{html.escape(href, quote=True)}">')
            elif kind == "link_close":
                if self.links.pop():
                    out.append("</a>")
            elif kind == "image":
                src = str(child.attrGet("src") or "")
                label = escape(child.content or src)
                if _SAFE_LINK.match(src):
                    out.append(f'<a href="{html.escape(src, quote=True)}">{label}</a>')
                else:
                    out.append(label)
            else:  # html_inline and anything newer: show it, never interpret it
                out.append(escape(child.content))
        return "".join(out)


_TAG_LIKE = re.compile(r"</?[a-zA-Z][a-zA-Z0-9-]*(?:\s[^<>]*)?/?>")


def html_to_plain_text(text: str) -> str:
    """Drop tags and decode entities: the fallback when Telegram refuses our markup.

    Only tag-shaped runs are removed, so a stray `a < b` in broken markup survives.
    """
    return html.unescape(_TAG_LIKE.sub("", text))


# ---- splitting -------------------------------------------------------------------------

_TOKEN = re.compile(
    r"(?P<tag><(?P<close>/)?(?P<name>[a-zA-Z][a-zA-Z0-9-]*)\b[^<>]*>)"
    r"|(?P<entity>&(?:#\d+|#[xX][0-9a-fA-F]+|[a-zA-Z][a-zA-Z0-9]*);)"
    r"|(?P<char>.)",
    re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class _Atom:
    raw: str
    width: int  # UTF-16 code units once Telegram has parsed entities; 0 for tags
    char: str  # the visible character ("" for tags)
    tag: str | None = None
    closing: bool = False


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _atoms(text: str) -> list[_Atom]:
    atoms = []
    for match in _TOKEN.finditer(text):
        if match["tag"]:
            atoms.append(_Atom(match["tag"], 0, "", match["name"].lower(), bool(match["close"])))
        else:
            raw = match[0]
            char = html.unescape(raw) if match["entity"] else raw
            atoms.append(_Atom(raw, _utf16(char), char))
    return atoms


def visible_length(text: str) -> int:
    """Message length as Telegram counts it: tags removed, entities decoded, UTF-16 units."""
    return sum(atom.width for atom in _atoms(text))


def split_message(text: str, limit: int = TELEGRAM_TEXT_LIMIT) -> list[str]:
    """Split Telegram HTML into chunks of at most `limit` visible UTF-16 units each.

    Cuts prefer a paragraph break, then a line break, then a sentence end, then a
    space; tags open at a cut are closed in one chunk and reopened in the next.
    """
    if limit < 2:
        raise ValueError("limit must be at least 2")
    atoms = _atoms(text)
    chunks: list[str] = []
    stack: list[_Atom] = []  # open tags at the start of the current chunk
    start = 0
    while start < len(atoms):
        end, used = start, 0
        while end < len(atoms) and used + atoms[end].width <= limit:
            used += atoms[end].width
            end += 1
        if end == len(atoms):
            cut, resume = end, end
        else:
            cut, resume = _best_cut(atoms, start, end)
        body = atoms[start:cut]
        closing_stack = _replay(stack, body)
        chunk = "".join(a.raw for a in stack) + "".join(a.raw for a in body)
        chunk += "".join(f"</{a.tag}>" for a in reversed(closing_stack))
        chunk = _drop_empty_elements(chunk)
        if any(a.char.strip() for a in body):
            chunks.append(chunk.strip())
        stack, start = closing_stack, resume
    return chunks


def _best_cut(atoms: list[_Atom], start: int, end: int) -> tuple[int, int]:
    """Where to end this chunk (exclusive) and where the next one starts."""

    def char(i: int) -> str:
        return atoms[i].char if 0 <= i < len(atoms) else ""

    # A cut before any visible character would make an empty chunk and no progress.
    first_visible = next((i for i in range(start, end) if atoms[i].char.strip()), end)
    finders: tuple[Callable[[int], bool], ...] = (
        lambda i: char(i) == "\n" and char(i + 1) == "\n",
        lambda i: char(i) == "\n",
        lambda i: char(i) in (" ", "\n") and char(i - 1) in (".", "!", "?", "…", ":", ";"),
        lambda i: char(i).isspace(),
    )
    for is_boundary in finders:
        for cut in range(end, first_visible, -1):
            if is_boundary(cut):
                return _settle(atoms, start, cut)
    return _settle(atoms, start, max(end, start + 1), skip_space=False)


def _settle(
    atoms: list[_Atom], start: int, cut: int, *, skip_space: bool = True
) -> tuple[int, int]:
    """Final (cut, resume): separators after the cut are dropped, not sent.

    Opening tags that end the window go to the next chunk, where their text is.
    """
    settled = cut
    while settled - 1 > start and atoms[settled - 1].tag and not atoms[settled - 1].closing:
        settled -= 1
    if settled != cut or not skip_space:
        return settled, settled
    resume = cut
    while resume < len(atoms) and atoms[resume].char.isspace():
        resume += 1
    return cut, resume


def _replay(stack: list[_Atom], body: list[_Atom]) -> list[_Atom]:
    """Open tags after `body`, given those open before it."""
    result = list(stack)
    for atom in body:
        if atom.tag is None:
            continue
        if not atom.closing:
            result.append(atom)
        else:
            for depth in range(len(result) - 1, -1, -1):
                if result[depth].tag == atom.tag:
                    del result[depth]
                    break
    return result


_EMPTY_ELEMENT = re.compile(r"<([a-zA-Z][a-zA-Z0-9-]*)\b[^<>]*>(\s*)</\1>")


def _drop_empty_elements(text: str) -> str:
    previous = None
    while previous != text:
        previous, text = text, _EMPTY_ELEMENT.sub(r"\2", text)
    return text
