"""Repetition looks past what every message of a customer shares: openings, sign-offs, ids."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from helpdesk.brain.embeddings import Encoder
from helpdesk.domain import Answer, EscalationReason
from helpdesk.handoff.matching import Wording, differing_parts
from helpdesk.handoff.policy import (
    EncoderEmbedder,
    EscalationPolicy,
    PastTurn,
    Vectors,
    cosine_to_first,
)
from tests.handoff.conftest import NOW, FakeEmbedder, make_settings

GOOD = Answer(text="Here is how...", confidence=0.9, responder="llm")


def said(*texts: str) -> list[PastTurn]:
    return [PastTurn.customer(NOW - timedelta(minutes=5 - i), t) for i, t in enumerate(texts)]


def parts(a: str, b: str) -> tuple[str, str] | None:
    return differing_parts(Wording.of(a), Wording.of(b))


# --- what differs ---------------------------------------------------------------------


def test_a_shared_opening_and_sign_off_are_set_aside_whole_clauses_at_a_time() -> None:
    assert parts(
        "Hi, order 100234 here. How long does shipping take? Thanks, Anna",
        "Hi, order 100234 here. Do you ship to Canada? Thanks, Anna",
    ) == ("how long does shipping take?", "do you ship to canada?")
    # "where is my" is no clause of its own: nothing to set aside, the texts compare whole.
    assert parts("where is my parcel", "where is my package") is None
    assert parts("where's my parcel", "how do I reset my password") is None


def test_numbers_do_not_count_as_a_difference() -> None:
    assert parts(
        "Hi, order 100234 here. Where is my parcel?", "Hello! Ticket 100238: Can I pay later?"
    ) == ("hi, order here. where is my parcel?", "hello! ticket : can i pay later?")
    assert Wording.of("Where is order 1234?").words == Wording.of("where is ORDER 5678").words


def test_a_shared_question_stays_shared_whatever_follows_it() -> None:
    assert parts("Where is my parcel? It's been a week.", "Where is my parcel? I paid.") is None
    assert parts("Any news? Thanks, Anna", "Where is it? Thanks, Anna") == (
        "any news?",
        "where is it?",
    )


def test_a_message_that_only_adds_to_the_other_leaves_nothing_on_its_side() -> None:
    assert parts("Hi, order 5 here.", "Hi, order 5 here. Where is my parcel?") == (
        "",
        "where is my parcel?",
    )


# --- the policy, with vectors made to order -------------------------------------------


async def test_a_pair_close_only_through_its_opening_is_no_repeat() -> None:
    opening = "Hi, order 100234 here."
    embedder = FakeEmbedder(
        {
            "whole messages": [f"{opening} Where is my parcel?", f"{opening} Can I pay later?"],
            "parcel": ["where is my parcel?"],
            "pay": ["can i pay later?"],
        }
    )
    policy = EscalationPolicy(make_settings(), embedder)
    history = said(f"{opening} Where is my parcel?")
    assert await policy.count_repeats(f"{opening} Can I pay later?", history) == 0
    # The remainders are embedded only because the whole messages read as repeats.
    assert embedder.calls[-1] == ["can i pay later?", "where is my parcel?"]


async def test_a_repeat_that_differs_only_in_its_numbers_needs_no_embedding() -> None:
    embedder = FakeEmbedder({})
    policy = EscalationPolicy(make_settings(), embedder)
    history = said("Ticket 55001: where is my parcel?", "Ticket 55002: where is my parcel?")
    assert await policy.count_repeats("Ticket 55003: where is my parcel?", history) == 2
    assert embedder.calls == []
    # Without an embedder the same holds: the ids alone do not make a new question.
    assert await EscalationPolicy(make_settings()).count_repeats("order 7?", said("order 8?")) == 1


# --- the real encoder -----------------------------------------------------------------

OPENING = "Hi, order 100234 here."
SIGNATURE = "\n\n--\nAnna Keller | Keller Design GmbH | Berlin | +49 30 1234567 | order 100234"
DIFFERENT = ("How long does shipping take?", "Can I pay with PayPal?", "Do you ship to Canada?")


@pytest.fixture
async def encoder() -> Encoder:
    # The model itself is loaded once per process; the encoder (its batching) per test.
    loaded = Encoder(make_settings().embedding_model)
    await loaded.load()
    return loaded


async def whole_text_similarity(encoder: Encoder, texts: list[str]) -> list[float]:
    vectors = np.stack([await encoder.encode(t) for t in [texts[-1], *texts[:-1]]])
    return [float(x) for x in cosine_to_first(vectors)]


@pytest.mark.slow
@pytest.mark.parametrize(
    "messages",
    [
        [f"{OPENING} {q}" for q in DIFFERENT],
        [f"{q}{SIGNATURE}" for q in DIFFERENT],
        [
            "Hi, order 100234 here. How long does shipping take?",
            "Hi, order 100234 here. Can I change the address?",
            "Hi, order 100234 here. Do you ship to Canada?",
        ],
    ],
    ids=["opening", "signature", "brief"],
)
async def test_different_questions_in_the_same_frame_do_not_escalate(
    encoder: Encoder, messages: list[str]
) -> None:
    settings = make_settings()
    # As whole texts they do read as repeats: the frame pulls them together.
    assert min(await whole_text_similarity(encoder, messages)) >= (
        settings.escalation_repeat_similarity
    )
    policy = EscalationPolicy(settings, EncoderEmbedder(encoder))
    assert await policy.count_repeats(messages[-1], said(*messages[:-1])) == 0
    assert await policy.evaluate(messages[-1], GOOD, said(*messages[:-1]), now=NOW) is None


@pytest.mark.slow
@pytest.mark.parametrize(
    "messages",
    [
        [f"{OPENING} Where is my parcel?"] * 3,
        [f"{OPENING} {q}" for q in ("where is my parcel", "where is my parcel???")]
        + [f"{OPENING} where's my package??"],
        [f"{q}{SIGNATURE}" for q in ("Where is my parcel?", "where's my package??")]
        + [f"where is my parcel{SIGNATURE}"],
        # Ticket numbers that change with every message do not make the question new.
        [
            "Hi, ticket 55001: where is my parcel?",
            "Hello! Ticket 55002: where is my parcel?",
            "Quick one (ref 55003): where is my parcel?",
        ],
        # The question is shared; what follows it is context, not a new question.
        [
            "Where is my parcel? It's been two weeks.",
            "Where is my parcel? I ordered on Monday.",
            "Where is my parcel? Nobody answers my emails.",
        ],
    ],
    ids=["exact", "paraphrase-opening", "paraphrase-signature", "ticket-ids", "context"],
)
async def test_the_same_question_in_the_same_frame_still_escalates(
    encoder: Encoder, messages: list[str]
) -> None:
    policy = EscalationPolicy(make_settings(), EncoderEmbedder(encoder))
    found = await policy.evaluate(messages[-1], GOOD, said(*messages[:-1]), now=NOW)
    assert found is not None and found.reason is EscalationReason.REPETITION


async def test_an_encoder_failing_on_the_remainders_leaves_only_identical_messages() -> None:
    class FailsSecondTime(FakeEmbedder):
        async def embed(self, texts: list[str]) -> Vectors:
            if self.calls:
                raise RuntimeError("model unloaded")
            return await super().embed(texts)

    opening = "Hi, order 100234 here."
    whole = [f"{opening} Where is my parcel?", f"{opening} Can I pay later?"]
    embedder = FailsSecondTime({"whole messages": whole})
    policy = EscalationPolicy(make_settings(), embedder)
    assert await policy.count_repeats(whole[1], said(whole[0], whole[1])) == 1
