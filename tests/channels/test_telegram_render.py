"""The LLM's Markdown becomes HTML Telegram accepts, split into sendable chunks."""

from __future__ import annotations

import random

import pytest

from helpdesk.channels.telegram import (
    html_to_plain_text,
    markdown_to_telegram_html,
    split_message,
    visible_length,
)
from tests.fakes.telegram_spec import parse_telegram_html, utf16_length


def render(md: str) -> str:
    html: str = markdown_to_telegram_html(md)
    parse_telegram_html(html)  # raises like Telegram's "can't parse entities"
    return html


def test_inline_styles() -> None:
    assert (
        render("**bold** and *italic* and ~~gone~~")
        == "<b>bold</b> and <i>italic</i> and <s>gone</s>"
    )
    assert render("__also bold__ _also italic_") == "<b>also bold</b> <i>also italic</i>"


def test_code_is_escaped_not_interpreted() -> None:
    assert render("use `a<b && c>d`") == "use <code>a&lt;b &amp;&amp; c&gt;d</code>"
    html = render("```python\nif a < b:\n    print('<tag>')\n```")
    assert html == (
        "<pre><code class=\"language-python\">if a &lt; b:\n    print('&lt;tag&gt;')</code></pre>"
    )
    assert render("```\nplain & simple\n```") == "<pre>plain &amp; simple</pre>"


def test_stray_angle_brackets_and_ampersands_survive() -> None:
    html = render("Prices < 5 € & > 2 €, see <b>this</b> & <script>x</script>")
    assert parse_telegram_html(html) == "Prices < 5 € & > 2 €, see <b>this</b> & <script>x</script>"


def test_links_keep_their_url_escaped_and_unsafe_ones_become_text() -> None:
    html = render('[Track it](https://example.com/t?a=1&b="2") or [js](javascript:alert(1))')
    assert html.startswith('<a href="https://example.com/t?a=1&amp;b=%222%22">Track it</a>')
    assert 'href="javascript' not in html
    assert render("[FAQ](/faq)") == "FAQ"
    assert (
        render("<https://example.com>") == '<a href="https://example.com">https://example.com</a>'
    )


def test_lists_and_headings_become_plain_lines() -> None:
    md = "# Returns\n\nSteps:\n\n1. Pack it\n2. Ship it\n   - tracked\n\n- one\n- two\n\nDone."
    assert render(md) == (
        "<b>Returns</b>\n\nSteps:\n\n1. Pack it\n2. Ship it\n   ◦ tracked\n\n• one\n• two\n\nDone."
    )
    assert render("3. third\n4. fourth") == "3. third\n4. fourth"


def test_quotes_tables_and_rules() -> None:
    assert render("> quoted\n> **text**\n\nafter") == (
        "<blockquote>quoted\n<b>text</b></blockquote>\n\nafter"
    )
    assert render("| a | b |\n|---|---|\n| 1 | 2 |") == "<b>a</b> | <b>b</b>\n1 | 2"
    assert render("above\n\n---\n\nbelow") == "above\n\n———\n\nbelow"
    assert render("> outer\n> > inner") == "<blockquote>outer\n\ninner</blockquote>"


def test_arbitrary_markdown_always_renders_to_valid_telegram_html() -> None:
    rng = random.Random(20240501)
    alphabet = [*list("*_`~[]()<>&#!|-+.1 \n\nab"), "**", "```", "> ", "- ", "1. ", "http://x.y"]
    for _ in range(400):
        md = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        html = markdown_to_telegram_html(md)
        parse_telegram_html(html)
        for chunk in split_message(html, 20):
            parse_telegram_html(chunk)
            assert visible_length(chunk) <= 20


def test_nine_thousand_character_answer_splits_on_paragraphs() -> None:
    paragraphs = [
        f"**Step {i}.** " + ("Lorem ipsum dolor sit amet. " * 12).strip() for i in range(30)
    ]
    html = render("\n\n".join(paragraphs))
    assert visible_length(html) > 9000
    chunks = split_message(html)
    assert len(chunks) >= 3
    for chunk in chunks:
        assert utf16_length(parse_telegram_html(chunk)) <= 4096
        # Cut between paragraphs, so each chunk starts at a step.
        assert chunk.startswith("<b>Step ")
    joined = "\n\n".join(parse_telegram_html(c) for c in chunks)
    assert joined == parse_telegram_html(html)


def test_split_falls_back_to_lines_sentences_words_and_characters() -> None:
    lines = "\n".join(f"line {i} " + "x" * 30 for i in range(10))
    assert all(c.startswith("line ") for c in split_message(lines, 100))

    sentences = " ".join(f"Sentence {i} is here." for i in range(20))
    chunks = split_message(sentences, 60)
    assert all(c.endswith(".") for c in chunks)

    words = " ".join(["word"] * 50)
    assert all(c.strip("word ") == "" and len(c) <= 23 for c in split_message(words, 23))

    unbroken = "y" * 250
    assert [len(c) for c in split_message(unbroken, 100)] == [100, 100, 50]


def test_split_closes_and_reopens_tags_at_a_cut() -> None:
    html = '<b>bold <a href="https://x.y/?a=1&amp;b=2">' + "word " * 40 + "</a></b> tail"
    chunks = split_message(html, 50)
    assert len(chunks) > 3
    for chunk in chunks:
        parse_telegram_html(chunk)
        assert visible_length(chunk) <= 50
    assert chunks[1].startswith('<b><a href="https://x.y/?a=1&amp;b=2">')
    code = "<pre>" + "\n".join(f"line_{i} = {i} &lt; {i + 1}" for i in range(40)) + "</pre>"
    for chunk in split_message(code, 100):
        assert chunk.startswith("<pre>") and chunk.endswith("</pre>")
        parse_telegram_html(chunk)


def test_split_counts_what_telegram_counts() -> None:
    # &lt; is one character to Telegram; an emoji outside the BMP is two UTF-16 units.
    assert visible_length("<b>a&lt;b</b>") == 3
    assert visible_length("😀") == 2
    assert [visible_length(c) for c in split_message("😀" * 5, 4)] == [4, 4, 2]
    assert split_message("&amp;" * 6, 4) == ["&amp;" * 4, "&amp;" * 2]


def test_split_edge_cases() -> None:
    assert split_message("") == []
    assert split_message("   \n\n  ") == []
    assert split_message("short") == ["short"]
    with pytest.raises(ValueError):
        split_message("x", 1)


def test_plain_text_fallback_drops_tags_and_keeps_stray_brackets() -> None:
    assert html_to_plain_text("<b>Hi</b> a &lt; b & <i>c</i>") == "Hi a < b & c"
    assert html_to_plain_text("a < b and c > d") == "a < b and c > d"
