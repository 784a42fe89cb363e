"""The escalation policy: each trigger, its near-misses, its switch, and precedence."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import numpy as np
import numpy.typing as npt
import pytest

from helpdesk.config import Settings
from helpdesk.domain import Answer, Author, EscalationReason, Turn
from helpdesk.handoff.policy import (
    EncoderEmbedder,
    Escalation,
    EscalationPolicy,
    PastTurn,
    cosine_to_first,
    evaluate,
)
from tests.handoff.conftest import NOW, BrokenEmbedder, FakeEmbedder, make_settings

R = EscalationReason
GOOD = Answer(text="Here's how returns work.", confidence=0.9, responder="llm")
UNSURE = Answer(
    text="I'm not sure.", confidence=0.2, needs_human=True, reason="low_confidence", responder="llm"
)
FALLBACK = Answer(
    text="Sorry, I can't answer that right now.",
    confidence=0.0,
    needs_human=True,
    reason="llm_failure",
    responder="fallback",
)
HUMAN_COMMAND = Answer(
    text="Sure", confidence=1.0, needs_human=True, reason="explicit_request", responder="fallback"
)


def ago(minutes: float) -> timedelta:
    return timedelta(minutes=minutes)


async def check(
    text: str,
    answer: Answer | None,
    history: list[PastTurn] | None = None,
    settings: Settings | None = None,
    embedder: FakeEmbedder | BrokenEmbedder | None = None,
) -> Escalation | None:
    return await evaluate(
        text, answer, history or [], settings or make_settings(), now=NOW, embedder=embedder
    )


async def reason(
    text: str,
    answer: Answer | None,
    history: list[PastTurn] | None = None,
    settings: Settings | None = None,
    embedder: FakeEmbedder | BrokenEmbedder | None = None,
) -> R | None:
    found = await check(text, answer, history, settings, embedder=embedder)
    return found.reason if found else None


async def test_a_good_answer_to_an_ordinary_question_does_not_escalate() -> None:
    assert await check("How do I return shoes?", GOOD) is None


async def test_asking_for_a_person_escalates_as_explicit_request() -> None:
    found = await check("Can I talk to a real person?", GOOD)
    assert found == Escalation(R.EXPLICIT_REQUEST, "asked for a person")
    assert await reason("/human", HUMAN_COMMAND) is R.EXPLICIT_REQUEST
    assert await reason("What's your human resources policy?", GOOD) is None


async def test_configured_human_phrases_count_as_explicit_requests(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory(escalation_human_phrases="mit einem Menschen, echte Person")
    assert settings.escalation_human_phrases == ["mit einem Menschen", "echte Person"]
    assert await reason("Bitte mit einem Menschen!", GOOD, settings=settings) is R.EXPLICIT_REQUEST


async def test_keywords_escalate_on_whole_words_only() -> None:
    found = await check("I'll call my lawyer!", GOOD)
    assert found == Escalation(R.KEYWORD, 'keyword "lawyer"')
    assert await check("Do your lawyers' fees apply?", GOOD) is None
    assert await reason("CHARGEBACK", GOOD) is R.KEYWORD


async def test_keywords_in_every_configured_language_count(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory(
        escalation_keywords_by_language={"de": ["Anwalt"], "fr": ["avocat", "remboursement*"]}
    )
    assert await reason("Ich rufe meinen ANWALT an", GOOD, settings=settings) is R.KEYWORD
    assert await reason("Je veux un remboursement!", GOOD, settings=settings) is R.KEYWORD
    # The English defaults still apply next to the per-language lists.
    assert await reason("lawyer", GOOD, settings=settings) is R.KEYWORD


def test_per_language_keywords_read_json_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, settings_factory: Callable[..., Settings]
) -> None:
    monkeypatch.setenv("HELPDESK_ESCALATION_KEYWORDS_BY_LANGUAGE", '{"de": ["anwalt", "klage"]}')
    monkeypatch.setenv("HELPDESK_HANDOFF_ALERT_CHANNELS", "email")
    settings = settings_factory()
    assert settings.escalation_keywords_by_language == {"de": ["anwalt", "klage"]}
    assert settings.handoff_alert_channels == ["email"]


async def test_keyword_hits_reported_by_the_brain_count() -> None:
    answer = Answer(text="...", confidence=0.9, keyword_hits=("refund now",))
    assert await check("give me my money", answer) == Escalation(R.KEYWORD, 'keyword "refund now"')


async def test_llm_failure_escalates_and_is_not_mistaken_for_low_confidence(
    settings_factory: Callable[..., Settings],
) -> None:
    assert await reason("Where is my order?", FALLBACK) is R.LLM_FAILURE
    off = settings_factory(escalation_llm_failure_enabled=False)
    assert await check("Where is my order?", FALLBACK, settings=off) is None


@pytest.mark.parametrize(
    "model_reason", ["sentiment", "angry", "negative_sentiment", "Customer is ABUSIVE", "threats"]
)
async def test_negative_sentiment_reported_by_the_model_escalates(model_reason: str) -> None:
    answer = Answer(text="...", confidence=0.9, needs_human=True, reason=model_reason)
    assert await reason("this is ridiculous", answer) is R.SENTIMENT


async def test_a_plain_request_from_the_model_escalates_as_llm_request() -> None:
    answer = Answer(text="...", confidence=0.8, needs_human=True, reason="llm_request")
    assert await check("my order 123 is wrong", answer) == Escalation(
        R.LLM_REQUEST, "the model asked for a person"
    )
    free_text = Answer(text="...", confidence=0.8, needs_human=True, reason="needs a refund check")
    found = await check("my order 123 is wrong", free_text)
    assert found == Escalation(R.LLM_REQUEST, "the model asked for a person: needs a refund check")


async def test_low_confidence_escalates_below_the_threshold_only() -> None:
    threshold = make_settings().answer_threshold
    assert await check("Do you sell socks?", UNSURE) == Escalation(
        R.LOW_CONFIDENCE, f"answer confidence 0.20 < {threshold:.2f}"
    )
    assert await check("Do you sell socks?", Answer(text="Yes", confidence=threshold)) is None
    # The offline responder's verdict counts even when the number alone would pass.
    flagged = Answer(text="?", confidence=0.6, needs_human=True, reason="low_confidence")
    assert await reason("Do you sell socks?", flagged) is R.LOW_CONFIDENCE


async def test_every_trigger_can_be_switched_off(
    settings_factory: Callable[..., Settings],
) -> None:
    off = settings_factory(
        escalation_explicit_request_enabled=False,
        escalation_keywords_enabled=False,
        escalation_low_confidence_enabled=False,
        escalation_sentiment_enabled=False,
        escalation_llm_request_enabled=False,
        escalation_repetition_enabled=False,
    )
    angry = Answer(text="...", confidence=0.1, needs_human=True, reason="angry")
    assert await check("I want a human, my lawyer says so", angry, settings=off) is None
    history = [PastTurn.customer(NOW - ago(1), "where is my parcel")] * 2
    assert await check("where is my parcel", GOOD, history, settings=off) is None


async def test_precedence_explicit_keyword_failure_sentiment_request_repetition_low() -> None:
    assert await reason("talk to a human, or my lawyer will", FALLBACK) is R.EXPLICIT_REQUEST
    assert await reason("my lawyer will hear of this", FALLBACK) is R.KEYWORD
    angry_failure = Answer(text="", confidence=0.0, needs_human=True, reason="llm_failure")
    assert await reason("ugh", angry_failure) is R.LLM_FAILURE
    angry_unsure = Answer(text="...", confidence=0.1, needs_human=True, reason="angry")
    assert await reason("ugh", angry_unsure) is R.SENTIMENT
    repeated = [PastTurn.customer(NOW - ago(m), "where is my parcel") for m in (4, 2)]
    asked = Answer(text="...", confidence=0.1, needs_human=True, reason="llm_request")
    assert await reason("where is my parcel", asked, repeated) is R.LLM_REQUEST
    assert await reason("where is my parcel", UNSURE, repeated) is R.REPETITION


async def test_text_triggers_work_before_the_brain_has_answered() -> None:
    assert await reason("I want a human", None) is R.EXPLICIT_REQUEST
    assert await reason("chargeback!", None) is R.KEYWORD
    assert await reason("How do I return shoes?", None) is None


# --- repetition ----------------------------------------------------------------------

PARCEL = ["where is my parcel", "where's my package??", "WHERE IS MY PARCEL"]
PASSWORD = ["how do I reset my password"]


async def test_near_duplicates_within_the_window_escalate() -> None:
    embedder = FakeEmbedder({"parcel": PARCEL, "password": PASSWORD})
    history = [
        PastTurn.customer(NOW - ago(8), "where is my parcel"),
        PastTurn.bot(NOW - ago(8), "Tracking works like this...", 0.9),
        PastTurn.customer(NOW - ago(4), "where's my package??"),
        PastTurn.bot(NOW - ago(4), "Tracking works like this...", 0.9),
    ]
    found = await check("WHERE IS MY PARCEL", GOOD, history, embedder=embedder)
    assert found == Escalation(R.REPETITION, "asked the same question 3 times in 10 min")
    # Only customer messages were embedded, the current one first.
    assert embedder.calls == [["WHERE IS MY PARCEL", "where is my parcel", "where's my package??"]]


async def test_one_repeat_is_not_enough_by_default(
    settings_factory: Callable[..., Settings],
) -> None:
    embedder = FakeEmbedder({"parcel": PARCEL})
    history = [PastTurn.customer(NOW - ago(3), "where is my parcel")]
    assert await check("where's my package??", GOOD, history, embedder=embedder) is None
    eager = settings_factory(escalation_repeat_count=1)
    found = await check("where's my package??", GOOD, history, eager, embedder)
    assert found is not None and found.reason is R.REPETITION


async def test_repeats_outside_the_window_do_not_count() -> None:
    embedder = FakeEmbedder({"parcel": PARCEL})
    history = [
        PastTurn.customer(NOW - ago(25), "where is my parcel"),
        PastTurn.customer(NOW - ago(11), "where's my package??"),
        PastTurn.customer(NOW - ago(5), "where is my parcel"),
    ]
    assert await check("WHERE IS MY PARCEL", GOOD, history, embedder=embedder) is None


async def test_unrelated_questions_are_not_repeats() -> None:
    embedder = FakeEmbedder({"parcel": PARCEL, "password": PASSWORD})
    history = [PastTurn.customer(NOW - ago(m), "where is my parcel") for m in (6, 3)]
    assert await check("how do I reset my password", GOOD, history, embedder=embedder) is None


async def test_the_similarity_threshold_is_configurable(
    settings_factory: Callable[..., Settings],
) -> None:
    embedder = FakeEmbedder({}, similarity={("track order", "order status"): 0.7})
    history = [PastTurn.customer(NOW - ago(2), "track order")]
    lenient = settings_factory(escalation_repeat_count=1, escalation_repeat_similarity=0.65)
    strict = settings_factory(escalation_repeat_count=1, escalation_repeat_similarity=0.75)
    assert await reason("order status", GOOD, history, lenient, embedder) is R.REPETITION
    assert await reason("order status", GOOD, history, strict, embedder) is None


async def test_without_an_embedder_only_identical_messages_repeat() -> None:
    history = [
        PastTurn.customer(NOW - ago(m), t)
        for m, t in ((5, "Where is my parcel?"), (2, "where is my parcel"))
    ]
    assert await reason("WHERE IS MY PARCEL!!", GOOD, history) is R.REPETITION
    assert await reason("where's my package", GOOD, history) is None


async def test_a_broken_embedder_falls_back_to_identical_messages() -> None:
    history = [PastTurn.customer(NOW - ago(m), "where's my order?") for m in (5, 2)]
    assert await reason("Where's my order", GOOD, history, embedder=BrokenEmbedder()) is (
        R.REPETITION
    )
    history[1] = PastTurn.customer(NOW - ago(2), "order status?")
    assert await reason("Where's my order", GOOD, history, embedder=BrokenEmbedder()) is None


async def test_acknowledgements_and_commands_are_not_repeated_questions() -> None:
    history = [PastTurn.customer(NOW - ago(m), t) for m, t in ((5, "thanks"), (3, "Thanks!"))]
    assert await check("thanks", GOOD, history) is None
    history = [PastTurn.customer(NOW - ago(m), "/start") for m in (5, 3)]
    assert await check("/start", GOOD, history) is None


async def test_consecutive_low_confidence_answers_escalate_as_repetition() -> None:
    history = [
        PastTurn.customer(NOW - ago(3), "do you sell socks"),
        PastTurn.bot(NOW - ago(3), "Not sure", 0.3),
        PastTurn(NOW - ago(3), Turn(Author.SYSTEM, "note")),
        PastTurn.customer(NOW - ago(1), "do you have any socks for sale"),
    ]
    found = await check("socks??", UNSURE, history)
    assert found == Escalation(R.REPETITION, "2 low-confidence answers in a row")


@pytest.mark.parametrize(
    "between",
    [
        PastTurn(NOW - ago(2), Turn(Author.AGENT, "Hi, I'm Ana from the team")),
        PastTurn.bot(NOW - ago(2), "Yes, see our socks page", 0.9),
    ],
)
async def test_a_good_answer_or_a_person_breaks_the_low_confidence_run(between: PastTurn) -> None:
    history = [PastTurn.bot(NOW - ago(3), "Not sure", 0.3), between]
    assert await reason("socks??", UNSURE, history) is R.LOW_CONFIDENCE


async def test_low_confidence_runs_only_count_inside_the_window(
    settings_factory: Callable[..., Settings],
) -> None:
    history = [PastTurn.bot(NOW - ago(30), "Not sure", 0.3)]
    assert await reason("socks??", UNSURE, history) is R.LOW_CONFIDENCE
    # With single low-confidence answers tolerated, only the run escalates.
    patient = settings_factory(escalation_low_confidence_enabled=False)
    assert await check("socks??", UNSURE, history, patient) is None
    history = [PastTurn.bot(NOW - ago(3), "Not sure", 0.3)]
    assert await reason("socks??", UNSURE, history, patient) is R.REPETITION


async def test_the_encoder_adapter_stacks_one_vector_per_text() -> None:
    class Encoder:
        def __init__(self) -> None:
            self.seen: list[str] = []

        async def encode(self, text: str) -> npt.NDArray[np.float32]:
            self.seen.append(text)
            return np.array([len(text), 1.0], dtype=np.float32)

    encoder = Encoder()
    vectors = await EncoderEmbedder(encoder).embed(["a", "bbb"])
    assert vectors.shape == (2, 2) and encoder.seen == ["a", "bbb"]
    assert (await EncoderEmbedder(encoder).embed([])).shape[0] == 0
    policy = EscalationPolicy(make_settings(escalation_repeat_count=1), EncoderEmbedder(encoder))
    history = [PastTurn.customer(NOW - ago(1), "where is it")]
    found = await policy.evaluate("where has it gone", GOOD, history, now=NOW)
    assert found is not None and found.reason is R.REPETITION
    assert encoder.seen[-2:] == ["where has it gone", "where is it"]


def test_cosine_ignores_vector_length() -> None:
    vectors = np.array([[2.0, 0.0], [5.0, 0.0], [0.0, 3.0], [0.0, 0.0]])
    assert cosine_to_first(vectors).tolist() == [1.0, 0.0, 0.0]
