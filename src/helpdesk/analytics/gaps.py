"""Knowledge gaps: what the bot could not answer well, and a draft article to fix it.

A customer question is a gap when the bot's answer to it was unsure (confidence under
the answer threshold), was voted down (👎), or when a person had to step in: the last
question the bot faced before the conversation was escalated. Gaps are grouped by
meaning like the common queries (`clusters.group`), each topic with the bot's answer
and the agent's answer beside the questions, and `draft_article` turns a topic into
a knowledge-base article in the loader's format (`helpdesk.brain.knowledge`).
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import frontmatter
import structlog
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.analytics.clusters import (
    TextEncoder,
    Vectors,
    encode_texts,
    group,
    typical_order,
)
from helpdesk.analytics.metrics import Period
from helpdesk.brain.knowledge import Article, parse_article
from helpdesk.store.models import AnswerFeedback, Conversation, Customer, Message

log = structlog.get_logger(__name__)

LOW_CONFIDENCE = "low_confidence"
RATED_DOWN = "rated_down"
ESCALATED = "escalated"
REASONS = (LOW_CONFIDENCE, RATED_DOWN, ESCALATED)
# "Let me talk to a person" is why a conversation escalated, not what the bot missed.
NOT_A_GAP = frozenset({"explicit_request"})
# Conversations read per page: the newest ones with a gap.
MAX_CONVERSATIONS = 400
# Gaps are rarer than questions and each one matters: a topic of one is still shown.
GAP_DISTANCE_THRESHOLD = 0.60
DRAFT_QUESTIONS = 12


@dataclass(frozen=True, slots=True)
class Line:
    """One message of a transcript, as gap finding needs it."""

    id: int
    author: str
    kind: str
    text: str | None
    at: datetime
    confidence: float | None = None
    needs_human: bool | None = None
    reason: str | None = None
    helpful: bool | None = None  # the customer's 👍/👎 on a bot answer


@dataclass(frozen=True, slots=True)
class GapQuestion:
    message_id: int
    conversation_id: int
    question: str
    at: datetime
    reasons: tuple[str, ...]
    bot_answer: str | None
    confidence: float | None
    agent_answer: str | None


@dataclass(frozen=True, slots=True)
class GapTopic:
    label: str
    questions: tuple[GapQuestion, ...]  # most typical first
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def agent_answer(self) -> str | None:
        """The team's answer to the most typical question that got one."""
        return next((q.agent_answer for q in self.questions if q.agent_answer), None)

    @property
    def bot_answer(self) -> str | None:
        return next((q.bot_answer for q in self.questions if q.bot_answer), None)

    @property
    def distinct_questions(self) -> list[str]:
        return list(dict.fromkeys(" ".join(q.question.split()) for q in self.questions))


def find_gaps(
    conversation_id: int,
    transcript: Sequence[Line],
    *,
    threshold: float,
    escalated_at: datetime | None = None,
) -> list[GapQuestion]:
    """The gap questions of one conversation (`transcript` in order)."""
    lines = sorted(transcript, key=lambda line: line.id)
    asked = [i for i, line in enumerate(lines) if _is_question(line)]
    answers = {i: _reply(lines, i, "bot") for i in asked}
    escalated_question = _escalated_question(lines, asked, answers, escalated_at)
    gaps: list[GapQuestion] = []
    for i in asked:
        answer = answers[i]
        reasons: list[str] = []
        if answer is not None and answer.reason not in NOT_A_GAP:
            if answer.confidence is not None and answer.confidence < threshold:
                reasons.append(LOW_CONFIDENCE)
            if answer.helpful is False:
                reasons.append(RATED_DOWN)
        if i == escalated_question:
            reasons.append(ESCALATED)
        if not reasons:
            continue
        agent = _reply(lines, i, "agent", stop_at_question=False)
        gaps.append(
            GapQuestion(
                message_id=lines[i].id,
                conversation_id=conversation_id,
                question=(lines[i].text or "").strip(),
                at=lines[i].at,
                reasons=tuple(reasons),
                bot_answer=answer.text if answer is not None else None,
                confidence=answer.confidence if answer is not None else None,
                agent_answer=agent.text if agent is not None else None,
            )
        )
    return gaps


def _is_question(line: Line) -> bool:
    return line.author == "customer" and line.kind == "text" and bool((line.text or "").strip())


def _reply(
    lines: Sequence[Line], index: int, author: str, *, stop_at_question: bool = True
) -> Line | None:
    """The first `author` text after lines[index]; a bot answer belongs to the question
    just before it, while an agent often answers several questions at once."""
    for line in lines[index + 1 :]:
        if stop_at_question and _is_question(line):
            return None
        if line.author == author and (line.text or "").strip():
            return line
    return None


def _escalated_question(
    lines: Sequence[Line],
    asked: Sequence[int],
    answers: dict[int, Line | None],
    escalated_at: datetime | None,
) -> int | None:
    """The last question the bot faced before the hand-over that was about something
    (not the "I want a person" message itself)."""
    if escalated_at is None:
        return None
    before = [i for i in asked if lines[i].at <= escalated_at]
    for i in reversed(before):
        answer = answers[i]
        if answer is None or answer.reason not in NOT_A_GAP:
            return i
    return None


def gap_topics(
    gaps: Sequence[GapQuestion],
    vectors: Vectors,
    *,
    threshold: float = GAP_DISTANCE_THRESHOLD,
) -> list[GapTopic]:
    """Gaps grouped by meaning, biggest topic first, each labelled by its typical question."""
    topics: list[GapTopic] = []
    for rows in group(vectors, threshold=threshold, min_size=1):
        ordered = [gaps[i] for i in typical_order(vectors, rows)]
        reasons = Counter(reason for gap in ordered for reason in gap.reasons)
        topics.append(
            GapTopic(
                label=" ".join(ordered[0].question.split()),
                questions=tuple(ordered),
                reasons={reason: reasons[reason] for reason in REASONS if reasons[reason]},
            )
        )
    return topics


async def load_gaps(
    session: AsyncSession,
    period: Period,
    *,
    threshold: float,
    language: str | None = None,
    limit: int = MAX_CONVERSATIONS,
) -> list[GapQuestion]:
    """Gap questions asked in the period, from the newest `limit` conversations with one."""
    in_period = (Message.created_at >= period.start, Message.created_at < period.end)
    down_voted = select(AnswerFeedback.message_id).where(AnswerFeedback.helpful.is_(False))
    suspects = (
        select(Message.conversation_id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            *in_period,
            or_(
                Conversation.escalated_at.is_not(None),
                (Message.author == "bot") & (Message.confidence < threshold),
                Message.id.in_(down_voted),
            ),
        )
        .group_by(Message.conversation_id)
        .order_by(Message.conversation_id.desc())
        .limit(limit)
    )
    if language is not None:
        suspects = suspects.join(Customer, Customer.id == Conversation.customer_id).where(
            Customer.language_code == language
        )
    ids = list((await session.scalars(suspects)).all())
    if not ids:
        return []
    escalated: dict[int, datetime | None] = {
        row.id: row.escalated_at
        for row in await session.execute(
            select(Conversation.id, Conversation.escalated_at).where(Conversation.id.in_(ids))
        )
    }
    rows = (
        await session.execute(
            select(
                Message.id,
                Message.conversation_id,
                Message.author,
                Message.kind,
                Message.text,
                Message.created_at,
                Message.confidence,
                Message.needs_human,
                Message.reason,
                AnswerFeedback.helpful,
            )
            .outerjoin(AnswerFeedback, AnswerFeedback.message_id == Message.id)
            .where(Message.conversation_id.in_(ids))
            .order_by(Message.conversation_id, Message.id)
        )
    ).all()
    transcripts: dict[int, list[Line]] = {}
    for row in rows:
        transcripts.setdefault(row.conversation_id, []).append(
            Line(
                id=row.id,
                author=row.author,
                kind=row.kind,
                text=row.text,
                at=row.created_at,
                confidence=row.confidence,
                needs_human=row.needs_human,
                reason=row.reason,
                helpful=row.helpful,
            )
        )
    gaps: list[GapQuestion] = []
    for conversation_id, transcript in transcripts.items():
        found = find_gaps(
            conversation_id,
            transcript,
            threshold=threshold,
            escalated_at=escalated.get(conversation_id),
        )
        gaps += [gap for gap in found if period.start <= gap.at < period.end]
    return gaps


async def knowledge_gaps(
    session: AsyncSession,
    encoder: TextEncoder,
    period: Period,
    *,
    threshold: float,
    language: str | None = None,
) -> list[GapTopic]:
    gaps = await load_gaps(session, period, threshold=threshold, language=language)
    if not gaps:
        return []
    vectors = await encode_texts(encoder, [gap.question for gap in gaps])
    topics = gap_topics(gaps, vectors)
    log.info("analytics.gaps", gaps=len(gaps), topics=len(topics), language=language)
    return topics


# --- Draft articles -----------------------------------------------------------------

PLACEHOLDER_BODY = "Write the answer here: nobody on the team has answered this yet."


def draft_article(topic: GapTopic) -> str:
    """A knowledge-base article (Markdown with YAML front matter) pre-filled from a topic:
    its questions as the article's example `questions`, the team's answer as the body
    (the bot's answer when no agent replied), `url` left for the admin to fill in."""
    body = topic.agent_answer or topic.bot_answer or PLACEHOLDER_BODY
    post = frontmatter.Post(
        body.strip() + "\n",
        title=_title(topic.label),
        url="",
        questions=topic.distinct_questions[:DRAFT_QUESTIONS],
    )
    text: str = frontmatter.dumps(post, sort_keys=False, allow_unicode=True)
    return text + "\n"


def _title(question: str) -> str:
    title = " ".join(question.split()).rstrip("?!. ")
    return (title[:1].upper() + title[1:])[:120] or "New article"


def slugify(title: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    return slug[:60].rstrip("-") or "draft"


def check_draft(text: str) -> Article:
    """Parse a draft the way the knowledge base will; raises KnowledgeError or a YAML error."""
    return parse_article("draft", text)


def save_draft(folder: Path, text: str) -> Path:
    """Write a checked draft under `folder` as <slug>.md, never over an existing file."""
    article = check_draft(text)
    folder.mkdir(parents=True, exist_ok=True)
    slug = slugify(article.title)
    for number in range(1, 1000):
        path = folder / (f"{slug}.md" if number == 1 else f"{slug}-{number}.md")
        try:
            # "x": create, fail if it exists; two admins saving at once both keep theirs.
            with path.open("x", encoding="utf-8") as file:
                file.write(text if text.endswith("\n") else text + "\n")
                file.flush()
                os.fsync(file.fileno())
        except FileExistsError:
            continue
        log.info("analytics.draft_saved", path=str(path), title=article.title)
        return path
    raise FileExistsError(f"too many drafts named {slug} in {folder}")
