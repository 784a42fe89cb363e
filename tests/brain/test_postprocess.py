"""Post-processing shared by both responders: Markdown, sources, footer, keywords."""

from __future__ import annotations

import pytest

from helpdesk.brain.postprocess import clean_markdown, keyword_hits, markdown_link

KEYWORDS = ["lawyer", "refund now", "cancel my account", "chargeback"]


@pytest.mark.parametrize(
    ("message", "hits"),
    [
        ("I will talk to my LAWYER about this", ("lawyer",)),
        ("Refund   now, please!", ("refund now",)),
        ("I want to cancel\nmy account", ("cancel my account",)),
        ("chargeback? lawyer!", ("lawyer", "chargeback")),
        ("my lawyers are busy", ()),
        ("a refund, nowhere to be seen", ()),
        ("where is my parcel", ()),
    ],
)
def test_keyword_hits_respect_case_word_boundaries_and_phrases(
    message: str, hits: tuple[str, ...]
) -> None:
    assert keyword_hits(message, KEYWORDS) == hits


def test_keywords_may_end_in_punctuation() -> None:
    assert keyword_hits("please call me asap!", ["asap!"]) == ("asap!",)


def test_model_output_is_cleaned_into_chat_markdown() -> None:
    raw = "```markdown\nHello!<br>Your refund takes **5 days**.\n\n\n\nSources:\n- [x](y)\n```"
    assert clean_markdown(raw) == "Hello!\nYour refund takes **5 days**."


def test_links_survive_odd_titles_and_urls() -> None:
    assert markdown_link("Returns [EU]", "https://h.example/a b(1)") == (
        r"[Returns \[EU\]](https://h.example/a%20b%281%29)"
    )
    assert markdown_link("No link", None) == "No link"
