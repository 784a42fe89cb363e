"""Knowledge gaps: where the bot was unsure, voted down or handed over, and the fix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.analytics.gaps import (
    ESCALATED,
    LOW_CONFIDENCE,
    RATED_DOWN,
    check_draft,
    draft_article,
    knowledge_gaps,
    save_draft,
)
from helpdesk.analytics.metrics import Period
from helpdesk.brain.embeddings import Encoder
from helpdesk.brain.knowledge import KnowledgeError, load_articles
from tests.analytics_insight.history import Chat, write_history

PERIOD = Period(datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 8, tzinfo=UTC))
DAY = timedelta(days=1)
THRESHOLD = 0.39
ICELAND_ANSWER = (
    "Yes: we ship to Iceland. Delivery takes **5-7 working days** and customs are prepaid."
)


def history() -> list[Chat]:
    start = PERIOD.start
    return [
        # The bot was unsure and nobody stepped in.
        Chat(
            ["Do you ship to Iceland?"],
            start + DAY,
            confidence=0.21,
            bot_answers=["I'm not sure; shipping costs depend on the destination."],
        ),
        # Unsure again, handed over, and an agent answered.
        Chat(
            ["Can you deliver to Reykjavik in Iceland?"],
            start + 2 * DAY,
            confidence=0.18,
            outcome="resolved_agent",
            agent_reply=ICELAND_ANSWER,
        ),
        # A confident answer the customer voted down.
        Chat(
            ["How do I use a promo code?", "Thanks"],
            start + 3 * DAY,
            voted_down=0,
            bot_answers=["Enter the code at checkout.", "You're welcome!"],
        ),
        # "I want a person" is not the gap: the question before it is.
        Chat(
            ["My parcel says delivered but it is not here", "I want to talk to a person"],
            start + 4 * DAY,
            escalation_reason="explicit_request",
            outcome="resolved_agent",
            agent_reply="I've opened a claim with the courier; a refund follows in 48 h.",
        ),
        # Fine conversations, and a gap outside the period: not listed.
        Chat(["How do I reset my password?"], start + DAY, rating=5),
        Chat(["Do you ship to Norway?"], PERIOD.end + DAY, confidence=0.2),
    ]


async def test_gaps_list_unsure_voted_down_and_escalated_questions_with_the_agents_answer(
    encoder: Encoder, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await write_history(sessions, history())

    async with sessions() as session:
        topics = await knowledge_gaps(session, encoder, PERIOD, threshold=THRESHOLD)

    by_label = {topic.label: topic for topic in topics}
    questions = {q.question: q for topic in topics for q in topic.questions}
    assert set(questions) == {
        "Do you ship to Iceland?",
        "Can you deliver to Reykjavik in Iceland?",
        "How do I use a promo code?",
        "My parcel says delivered but it is not here",
    }
    # The two Iceland questions are one topic, biggest first, with the agent's answer.
    iceland = topics[0]
    assert {q.question for q in iceland.questions} == {
        "Do you ship to Iceland?",
        "Can you deliver to Reykjavik in Iceland?",
    }
    assert iceland.reasons == {LOW_CONFIDENCE: 2, ESCALATED: 1}
    assert iceland.agent_answer == ICELAND_ANSWER
    unsure = questions["Do you ship to Iceland?"]
    assert unsure.reasons == (LOW_CONFIDENCE,) and unsure.confidence == pytest.approx(0.21)
    assert unsure.bot_answer == "I'm not sure; shipping costs depend on the destination."
    assert unsure.agent_answer is None

    promo = by_label["How do I use a promo code?"]
    assert promo.reasons == {RATED_DOWN: 1}
    assert promo.bot_answer == "Enter the code at checkout." and promo.agent_answer is None

    parcel = questions["My parcel says delivered but it is not here"]
    assert parcel.reasons == (ESCALATED,)
    assert parcel.agent_answer is not None and "opened a claim" in parcel.agent_answer

    async with sessions() as session:
        german = await knowledge_gaps(session, encoder, PERIOD, threshold=THRESHOLD, language="de")
    assert german == []


async def test_a_gap_becomes_a_draft_article_the_knowledge_base_loads(
    encoder: Encoder, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await write_history(sessions, history())
    async with sessions() as session:
        iceland = (await knowledge_gaps(session, encoder, PERIOD, threshold=THRESHOLD))[0]

    draft = draft_article(iceland)

    assert draft.startswith("---\ntitle: ")
    article = check_draft(draft)
    assert article.title == iceland.label.rstrip("?")
    assert set(article.questions) == {
        "Do you ship to Iceland?",
        "Can you deliver to Reykjavik in Iceland?",
    }
    assert article.body == ICELAND_ANSWER
    assert article.url is None  # for the admin to fill in

    folder = tmp_path / "kb_drafts"
    first = save_draft(folder, draft)
    second = save_draft(folder, draft)
    assert first != second and first.read_text() == second.read_text() == draft
    assert first.suffix == ".md" and first.parent == folder
    [loaded, _] = load_articles(folder)
    assert loaded.questions == article.questions and loaded.body == ICELAND_ANSWER
    # The knowledge base's own loader reads the folder: drafts can be indexed as they are.
    assert [a.title for a in load_articles(folder)] == [article.title] * 2


def test_a_draft_that_the_knowledge_base_cannot_load_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError):
        save_draft(tmp_path, "---\nurl: ''\n---\n\nno title anywhere\n")
    with pytest.raises(Exception, match=r"mapping|expected|found"):
        save_draft(tmp_path, "---\ntitle: [unclosed\n---\nbody\n")
    assert list(tmp_path.iterdir()) == []
