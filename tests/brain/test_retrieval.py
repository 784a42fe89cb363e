"""Retrieval and the offline responder over the bundled Northwind Goods articles.

The paraphrases below are not the articles' example questions: they are how
customers actually write. Confidence must separate them from off-topic chatter.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from helpdesk.brain import Brain
from helpdesk.config import Settings
from helpdesk.domain import EscalationReason

THRESHOLD = Settings.model_fields["answer_threshold"].default

REQUIRED = [
    ("where is my parcel", "order-tracking"),
    ("how long do refunds take", "refund-timing"),
    ("I was charged twice", "double-charge"),
    ("forgot my password", "reset-password"),
]

# Written as a held-out set after the sample articles were final; reported, and only
# asserted loosely, because a few are honestly ambiguous (track vs. lost parcel).
PARAPHRASES = [
    *REQUIRED,
    ("my order hasn't moved in days, what's going on", "order-tracking"),
    ("can I get a tracking code for my delivery", "order-tracking"),
    ("my parcel got lost in the mail", "lost-parcel"),
    ("is shipping free if I spend enough", "shipping-costs"),
    ("can I get it delivered tomorrow", "shipping-times"),
    ("do you send orders to Switzerland", "international-shipping"),
    ("what items can't be returned", "return-policy"),
    ("how do I return my order", "how-to-return"),
    ("I sent my return two weeks ago and still no money", "refund-timing"),
    ("swap my jacket for a medium", "exchanges"),
    ("the blender doesn't turn on anymore", "damaged-item"),
    ("can I pay with apple pay", "payment-methods"),
    ("please send me a copy of my invoice", "invoices"),
    ("you took my money two times", "double-charge"),
    ("the voucher says invalid", "promo-codes"),
    ("I never received the password reset link", "reset-password"),
    ("how do I update my phone number", "change-email"),
    ("I want you to delete all my information", "delete-account"),
    ("show me my past orders", "order-history"),
    ("I changed my mind, please cancel my purchase", "cancel-order"),
    ("what's your phone number", "contact-us"),
    ("do gift cards have an expiry date", "gift-cards"),
]

OFF_TOPIC = [
    "what's the weather in Paris",
    "recommend a pizza recipe",
    "who won the football match yesterday",
    "what is the capital of Australia",
    "can you help me with my homework",
]


@pytest.mark.parametrize(("question", "article_id"), REQUIRED)
async def test_paraphrased_questions_find_the_right_article(
    offline_brain: Brain, question: str, article_id: str
) -> None:
    [best, *_] = await offline_brain.retrieve(question)
    assert best.article.id == article_id
    assert best.confidence >= THRESHOLD


async def test_most_paraphrases_rank_the_right_article_first(offline_brain: Brain) -> None:
    misses = []
    for question, article_id in PARAPHRASES:
        hits = await offline_brain.retrieve(question)
        if hits[0].article.id != article_id:
            misses.append((question, hits[0].article.id))
    accuracy = 1 - len(misses) / len(PARAPHRASES)
    print(f"top-1 accuracy {accuracy:.0%} on {len(PARAPHRASES)} paraphrases; misses: {misses}")
    assert accuracy >= 0.85, misses


@pytest.mark.parametrize("question", OFF_TOPIC)
async def test_off_topic_questions_get_low_confidence_and_a_human(
    offline_brain: Brain, question: str
) -> None:
    [best, *_] = await offline_brain.retrieve(question)
    assert best.confidence < THRESHOLD / 2
    answer = await offline_brain.answer(question)
    assert answer.responder == "offline"
    assert answer.needs_human
    assert answer.reason == EscalationReason.LOW_CONFIDENCE
    assert "follow up" in answer.text
    assert answer.sources == ()
    assert answer.confidence < THRESHOLD


async def test_offline_answer_quotes_the_article_and_links_it(offline_brain: Brain) -> None:
    answer = await offline_brain.answer("how long do refunds take")
    assert answer.responder == "offline"
    assert not answer.needs_human and answer.reason is None
    assert answer.confidence >= THRESHOLD
    assert answer.text.startswith("**Refund times**")
    assert "5 working days" in answer.text
    assert "Sources:\n- [Refund times](https://help.northwind.example/returns/refund-timing)" in (
        answer.text
    )
    assert answer.text.endswith("Reply /human to talk to our team.")
    assert [s.article_id for s in answer.sources] == ["refund-timing"]
    assert "<" not in answer.text, "Markdown, not HTML"
    assert answer.model is None and answer.prompt_tokens is None


async def test_a_long_article_is_quoted_from_its_most_relevant_part(
    offline_brain: Brain,
) -> None:
    answer = await offline_brain.answer("what if my parcel shows delivered but isn't here")
    assert answer.sources[0].article_id == "lost-parcel"
    assert "neighbours" in answer.text
    assert "**Tracking says" in answer.text, "headings become bold lines"
    assert "## " not in answer.text


async def test_escalation_keywords_are_reported(offline_brain: Brain) -> None:
    answer = await offline_brain.answer("I was charged twice, refund now or I call my lawyer")
    assert answer.keyword_hits == ("lawyer", "refund now")
    assert (await offline_brain.answer("forgot my password")).keyword_hits == ()


async def test_empty_message_asks_for_a_question(offline_brain: Brain) -> None:
    answer = await offline_brain.answer("   ")
    assert not answer.needs_human
    assert "question" in answer.text


async def test_concurrent_questions_are_encoded_in_shared_batches(offline_brain: Brain) -> None:
    questions = [f"question number {n} about my parcel delivery" for n in range(40)]
    encoder = offline_brain.encoder
    batches_before = encoder.batches
    answers = await asyncio.gather(*(offline_brain.answer(q) for q in questions))
    assert len(answers) == 40
    assert encoder.batches - batches_before <= 5, "40 concurrent queries, a handful of batches"
    # Same vectors as one at a time: batching must not change the answers.
    alone = await offline_brain.retrieve(questions[7])
    assert answers[7].confidence == pytest.approx(alone[0].confidence, abs=1e-3)


async def test_encoding_does_not_block_the_event_loop(offline_brain: Brain) -> None:
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    await offline_brain.encoder.encode_many(
        [f"a fairly long sentence number {n}" * 5 for n in range(64)]
    )
    done.set()
    await task
    assert len(gaps) > 5
    assert max(gaps) < 0.25, max(gaps)
