"""Repetition with the real all-MiniLM-L6-v2 encoder: paraphrases repeat, other questions don't."""

from __future__ import annotations

from datetime import timedelta

import pytest

from helpdesk.brain.embeddings import Encoder
from helpdesk.domain import Answer, EscalationReason
from helpdesk.handoff.policy import EncoderEmbedder, EscalationPolicy, PastTurn
from tests.handoff.conftest import NOW, make_settings

GOOD = Answer(text="Tracking works like this...", confidence=0.9, responder="llm")


@pytest.mark.slow
async def test_paraphrases_count_as_repeats_and_other_questions_do_not() -> None:
    encoder = Encoder(make_settings().embedding_model)
    await encoder.load()
    policy = EscalationPolicy(make_settings(), EncoderEmbedder(encoder))

    def said(*texts: str) -> list[PastTurn]:
        return [PastTurn.customer(NOW - timedelta(minutes=5 - i), t) for i, t in enumerate(texts)]

    assert await policy.count_repeats("where's my package??", said("where is my parcel")) == 1
    for other in (
        "how do I reset my password",
        "where is my refund",
        "can I pay with paypal",
        "how much does shipping cost",
    ):
        assert await policy.count_repeats(other, said("where is my parcel")) == 0, other

    history = said("where is my parcel", "where is my parcel???")
    found = await policy.evaluate("where's my package??", GOOD, history, now=NOW)
    assert found is not None and found.reason is EscalationReason.REPETITION
    unrelated = said("do you ship to canada", "how do I return an item")
    assert await policy.evaluate("where's my package??", GOOD, unrelated, now=NOW) is None
