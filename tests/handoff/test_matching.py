"""Keywords and requests for a person, including the near-misses that must not match."""

from __future__ import annotations

import pytest

from helpdesk.handoff.matching import is_human_request, keyword_hits

HUMAN_REQUESTS = [
    "/human",
    "/human@NorthwindBot",
    "can I talk to a human?",
    "Can I talk to a Human?",
    "I WANT TO TALK TO A HUMAN",
    "I want to speak to a real person",
    "I’d like to talk to a person",
    "Can I speak to someone about my order",
    "talk to someone",
    "representative",
    "Human!!!",
    "agent please",
    "a real person please",
    "connect me with a live agent",
    "transfer me to an operator",
    "I need a human",
    "get me an agent",
    "Is this a real person?",
    "I'd like to speak with customer service",
    "I want to speak to your manager",
    "Let me talk to one of your agents",
    "is there a human I can talk to",
    "anyone I can talk to?",
    "I don't want a bot, I want a human",
    "I don't want to talk to a bot",
    "human support please",
    "Why can't I talk to a human?",
]

NOT_HUMAN_REQUESTS = [
    "What is your human resources policy?",
    "Can I talk to human resources?",
    "Is your packaging humane?",
    "that was human error",
    "inhuman prices",
    "my travel agent booked it",
    "I need to contact my agent",
    "I'm a sales representative",
    "I don't need a human, just tell me the hours",
    "no need to talk to a person",
    "do I need a person to sign for the parcel?",
    "I need someone to pick up my parcel",
    "where is my parcel",
    "/help",
]


@pytest.mark.parametrize("text", HUMAN_REQUESTS)
def test_requests_for_a_person_are_recognised(text: str) -> None:
    assert is_human_request(text)


@pytest.mark.parametrize("text", NOT_HUMAN_REQUESTS)
def test_near_misses_are_not_requests(text: str) -> None:
    assert not is_human_request(text)


def test_extra_phrases_add_other_languages() -> None:
    phrases = ["mit einem menschen", "parler à un humain"]
    assert is_human_request("Kann ich mit einem  Menschen sprechen?", phrases)
    assert is_human_request("Je veux PARLER À UN HUMAIN!", phrases)
    assert not is_human_request("Kann ich mit einem Menschen sprechen?")


@pytest.mark.parametrize(
    ("text", "keywords", "hits"),
    [
        ("I'll call my lawyer!", ["lawyer"], ("lawyer",)),
        ("My lawyer's letter is attached", ["lawyer"], ("lawyer",)),
        # Decided: a plain keyword is one word, not its plural; "lawyer*" covers both.
        ("Our lawyers' fees", ["lawyer"], ()),
        ("Our lawyers' fees", ["lawyer*"], ("lawyer*",)),
        ("lawyerly", ["lawyer"], ()),
        ("I want a REFUND   now!!", ["refund now"], ("refund now",)),
        ("refund-now", ["refund now"], ("refund now",)),
        ("I want to\ncancel my account.", ["cancel my account"], ("cancel my account",)),
        ("cancel my accounting export", ["cancel my account"], ()),
        ("Ich rufe meinen Anwalt an", ["anwalt"], ("anwalt",)),
        ("Anwaltskanzlei", ["anwalt"], ()),
        ("AUF DER STRASSE", ["straße"], ("straße",)),
        ("Я позвоню адвокату!", ["адвокату"], ("адвокату",)),
        ("chargeback and lawyer", ["lawyer", "chargeback", "LAWYER"], ("lawyer", "chargeback")),
        ("anything", ["", "  "], ()),
    ],
)
def test_keywords_match_whole_words_case_insensitively(
    text: str, keywords: list[str], hits: tuple[str, ...]
) -> None:
    assert keyword_hits(text, keywords) == hits
