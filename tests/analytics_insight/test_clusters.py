"""Common queries: customer questions grouped by meaning, with volume, trend and quality."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.analytics.clusters import Question as Q
from helpdesk.analytics.clusters import common_queries, encode_texts, summarize
from helpdesk.analytics.metrics import Period
from helpdesk.brain.embeddings import Encoder
from tests.analytics_insight.history import Chat, write_history

# Four planted topics, each asked eight different ways, and one-off questions around them.
TOPICS = {
    "tracking": [
        "Where is my parcel?",
        "How can I track my order?",
        "My package hasn't arrived yet, where is it?",
        "Can you tell me where my delivery is?",
        "I'd like to track my shipment",
        "Has my order been shipped?",
        "Where's my package? It's been a week",
        "Is there a tracking number for my order?",
    ],
    "password": [
        "I forgot my password",
        "How do I reset my password?",
        "I can't log in to my account",
        "The password reset email never arrived",
        "How can I change my password?",
        "I'm locked out of my account",
        "Login doesn't work, I think my password is wrong",
        "Please help me recover my account password",
    ],
    "refund": [
        "When will I get my refund?",
        "How long does a refund take?",
        "I returned an item but no refund yet",
        "My money hasn't been refunded",
        "Refund still not on my card",
        "How many days until the refund arrives?",
        "Has my refund been processed?",
        "Where is my refund?",
    ],
    "address": [
        "Can I change my delivery address?",
        "I need to update the shipping address on my order",
        "I moved, how do I change the address for my order?",
        "Wrong address on my order, can you fix it?",
        "Please send my order to a different address",
        "How do I edit the delivery address?",
        "Can the parcel be delivered to my office instead?",
        "I typed the wrong street in my address",
    ],
}
NOISE = [
    "Do you sell gift wrapping?",
    "What are your opening hours?",
    "Are your products vegan?",
    "Do you have a store in Berlin?",
    "Can I pay with bitcoin?",
    "Is there a student discount?",
    "Who founded the company?",
    "Do you offer a warranty on electronics?",
]
T0 = datetime(2026, 10, 1, 9, tzinfo=UTC)


async def test_clustering_finds_the_planted_topics_and_labels_them_by_a_typical_question(
    encoder: Encoder,
) -> None:
    planted = [(topic, text) for topic, texts in TOPICS.items() for text in texts]
    mixed = planted + [("noise", text) for text in NOISE]
    random.Random(7).shuffle(mixed)
    questions = [
        Q(message_id=i, conversation_id=i, text=text, at=T0) for i, (_, text) in enumerate(mixed)
    ]
    topic_of = {text: topic for topic, text in mixed}
    vectors = await encode_texts(encoder, [q.text for q in questions])

    clusters = summarize(questions, vectors)

    # One cluster per planted topic, holding all of its paraphrases and nothing else.
    assert len(clusters) == len(TOPICS)
    found = {}
    for cluster in clusters:
        topics = {topic_of[q.text] for q in cluster.questions}
        assert len(topics) == 1, f"{cluster.label!r} mixes {topics}"
        found[topics.pop()] = cluster
    assert set(found) == set(TOPICS)
    for topic, cluster in found.items():
        assert sorted(q.text for q in cluster.questions) == sorted(TOPICS[topic])
        assert cluster.volume == 8
        # The label is the member closest to the topic's mean meaning.
        members = await encode_texts(encoder, TOPICS[topic])
        center = members.mean(axis=0)
        closest = TOPICS[topic][int(np.argmax(members @ center))]
        assert cluster.label == closest
        assert cluster.examples[0] == closest
    # The one-off questions belong to no common query.
    clustered = {q.text for cluster in clusters for q in cluster.questions}
    assert clustered.isdisjoint(NOISE)


async def test_each_common_query_shows_volume_trend_bot_resolution_and_csat(
    encoder: Encoder, sessions: async_sessionmaker[AsyncSession]
) -> None:
    period = Period(datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 8, tzinfo=UTC))
    day = timedelta(days=1)
    tracking, password, refund = TOPICS["tracking"], TOPICS["password"], TOPICS["refund"]
    chats = [
        # This week: 6 tracking conversations, 4 resolved by the bot; ratings 5, 4, 2.
        *(Chat([tracking[i]], period.start + i * day / 2) for i in range(3)),
        Chat([tracking[3]], period.start + 2 * day, rating=5),
        Chat(
            [tracking[4]],
            period.start + 3 * day,
            outcome="resolved_agent",
            rating=4,
            agent_reply="It left the warehouse yesterday.",
        ),
        Chat([tracking[5]], period.start + 4 * day, outcome=None, rating=2),
        # 3 password conversations: 1 by the bot, 1 abandoned, 1 still open; one rating of 1.
        Chat([password[0]], period.start + day, rating=1),
        Chat([password[1]], period.start + 2 * day, outcome="abandoned"),
        Chat([password[2]], period.start + 5 * day, outcome=None),
        # A one-off question: no topic.
        Chat([NOISE[0]], period.start + day),
        # The week before: 2 tracking questions and 3 refund ones (gone this week).
        Chat([tracking[6]], period.start - 3 * day),
        Chat([tracking[7]], period.start - 2 * day),
        *(Chat([refund[i]], period.start - 5 * day) for i in range(3)),
        # Outside both periods, and another language than the filter's.
        Chat([tracking[0]], period.end + day),
        Chat(["Wo ist mein Paket?", "Wo ist meine Sendung?"], period.start + day, language="de"),
    ]
    await write_history(sessions, chats)

    async with sessions() as session:
        result = await common_queries(session, encoder, period, language="en")

    assert result.questions == 10 and not result.estimated
    by_label = {c.label: c for c in result.clusters}
    assert len(result.clusters) == 2, by_label
    first, second = result.clusters
    assert first.label in tracking and {q.text for q in first.questions} == set(tracking[:6])
    assert second.label in password and {q.text for q in second.questions} == set(password[:3])
    assert first.volume == 6 and first.previous_volume == 2 and first.trend == 2.0
    assert first.bot_resolution_rate == 4 / 6
    assert first.csat == 2 / 3 and first.ratings == 3
    assert second.volume == 3 and second.previous_volume == 0 and second.trend is None
    assert second.bot_resolution_rate == 1 / 3
    assert second.csat == 0.0 and second.ratings == 1

    async with sessions() as session:
        german = await common_queries(session, encoder, period, language="de")
    assert [c.volume for c in german.clusters] == [2]
    assert german.clusters[0].bot_resolution_rate == 1.0


async def test_a_busy_period_is_clustered_on_its_latest_questions_and_scaled(
    encoder: Encoder, sessions: async_sessionmaker[AsyncSession]
) -> None:
    period = Period(datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 2, tzinfo=UTC))
    texts = TOPICS["refund"] * 3  # 24 questions
    chats = [Chat([text], period.start + timedelta(minutes=i)) for i, text in enumerate(texts)]
    await write_history(sessions, chats)
    async with sessions() as session:
        result = await common_queries(session, encoder, period, limit=12)
    assert result.questions == 24 and result.clustered == 12 and result.estimated
    assert [c.volume for c in result.clusters] == [24]


async def test_customers_questions_are_not_held_back_while_the_dashboard_encodes(
    encoder: Encoder,
) -> None:
    # The encoder has one thread for everyone: the dashboard's bulk encoding goes in
    # slices, so a customer's question is answered before the bulk is done.
    words = ["parcel", "refund", "invoice", "password", "voucher", "address", "courier"]
    bulk = [
        f"Question {i} about my {words[i % len(words)]} and order {i * 7919}" for i in range(640)
    ]
    started = asyncio.get_running_loop().time()
    dashboard = asyncio.create_task(encode_texts(encoder, bulk))
    await asyncio.sleep(0.2)
    vector = await encoder.encode(f"Where is my parcel? Order {started}")
    assert vector.shape == (384,)
    assert not dashboard.done(), "the customer waited for the whole dashboard batch"
    vectors = await dashboard
    assert vectors.shape == (640, 384)
