"""Analytics storage: outcomes, ratings, answer feedback (tables of migration 0004)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Integer, bindparam, func, insert, null, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from helpdesk.store.dialect import Executor
from helpdesk.store.models import (
    AnswerFeedback,
    Conversation,
    ConversationOutcome,
    Customer,
    Message,
    Rating,
    tables,
)
from helpdesk.store.types import UTCDateTime


@dataclass(frozen=True, slots=True)
class Candidate:
    """An undecided conversation and when anything last happened in it."""

    id: int
    customer_id: int
    channel: str
    chat_id: int
    state: str
    escalated_at: datetime | None
    resolved_at: datetime | None
    last_activity: datetime


@dataclass(frozen=True, slots=True)
class Signals:
    """What the customer told us about the bot's help in one conversation."""

    last_author: str | None
    last_customer_text: str | None
    bot_answers: int
    agent_messages: int
    last_bot_vote: bool | None  # 👍 True / 👎 False on the latest bot answer
    any_helpful_vote: bool
    score: int | None


async def outcome_candidates(
    session: AsyncSession, *, idle_before: datetime, after_id: int, limit: int
) -> list[Candidate]:
    """Conversations without an outcome that are resolved, or idle since `idle_before`,
    by id from `after_id` on (a page of at most `limit`)."""
    undecided = (
        select(Conversation.id)
        .outerjoin(ConversationOutcome, ConversationOutcome.conversation_id == Conversation.id)
        .where(ConversationOutcome.conversation_id.is_(None), Conversation.id > after_id)
    )
    # Only undecided conversations' messages: decided ones are most of a big history.
    last_message = (
        select(
            Message.conversation_id.label("conversation_id"),
            func.max(Message.created_at).label("last_at"),
        )
        .where(Message.conversation_id.in_(undecided))
        .group_by(Message.conversation_id)
        .subquery()
    )
    last_at = func.coalesce(last_message.c.last_at, Conversation.created_at)
    query = (
        select(
            Conversation.id,
            Conversation.customer_id,
            Conversation.channel,
            Conversation.chat_id,
            Conversation.state,
            Conversation.escalated_at,
            Conversation.resolved_at,
            Conversation.created_at,
            Conversation.updated_at,
            last_message.c.last_at,
        )
        .outerjoin(ConversationOutcome, ConversationOutcome.conversation_id == Conversation.id)
        .outerjoin(last_message, last_message.c.conversation_id == Conversation.id)
        .where(ConversationOutcome.conversation_id.is_(None), Conversation.id > after_id)
        .where((Conversation.state == "resolved") | (last_at < idle_before))
        .order_by(Conversation.id)
        .limit(limit)
    )
    found = []
    for row in (await session.execute(query)).all():
        last = _as_utc(row.last_at) if row.last_at is not None else row.created_at
        moments = [m for m in (last, row.escalated_at, row.updated_at) if m is not None]
        found.append(
            Candidate(
                id=row.id,
                customer_id=row.customer_id,
                channel=row.channel,
                chat_id=row.chat_id,
                state=row.state,
                escalated_at=row.escalated_at,
                resolved_at=row.resolved_at,
                last_activity=max(moments),
            )
        )
    return found


def _as_utc(value: Any) -> datetime:
    # max() over a TypeDecorator column comes back raw on SQLite (a string).
    result = UTCDateTime().process_result_value(
        datetime.fromisoformat(value) if isinstance(value, str) else value,
        None,  # type: ignore[arg-type]
    )
    assert result is not None
    return result


async def signals(session: AsyncSession, conversation_id: int) -> Signals:
    rows = (
        await session.execute(
            select(Message.id, Message.author, Message.text, Message.kind)
            .where(Message.conversation_id == conversation_id, Message.kind != "callback")
            .order_by(Message.id)
        )
    ).all()
    feedback = await session.execute(
        select(AnswerFeedback.message_id, AnswerFeedback.helpful).where(
            AnswerFeedback.conversation_id == conversation_id
        )
    )
    votes = {row.message_id: row.helpful for row in feedback}
    score = await session.scalar(
        select(Rating.score).where(Rating.conversation_id == conversation_id)
    )
    bot_ids = [row.id for row in rows if row.author == "bot"]
    customer_texts = [row.text for row in rows if row.author == "customer" and row.text]
    return Signals(
        last_author=rows[-1].author if rows else None,
        last_customer_text=customer_texts[-1] if customer_texts else None,
        bot_answers=len(bot_ids),
        agent_messages=sum(1 for row in rows if row.author == "agent"),
        last_bot_vote=votes.get(bot_ids[-1]) if bot_ids else None,
        any_helpful_vote=any(votes.values()),
        score=score,
    )


async def record_outcome(
    session: AsyncSession,
    conversation_id: int,
    *,
    outcome: str,
    reason: str | None,
    ended_at: datetime,
    now: datetime,
) -> None:
    await session.execute(
        insert(ConversationOutcome).values(
            conversation_id=conversation_id,
            outcome=outcome,
            reason=reason,
            ended_at=ended_at,
            decided_at=now,
        )
    )


async def may_survey(session: AsyncSession, conversation_id: int, customer_id: int) -> bool:
    """Not opted out, not rated yet, and the customer's previous conversation unsurveyed."""
    opted_out = await session.scalar(
        select(Customer.notifications_opted_out_at).where(Customer.id == customer_id)
    )
    if opted_out is not None:
        return False
    if await session.scalar(select(Rating.id).where(Rating.conversation_id == conversation_id)):
        return False
    previous = await session.scalar(
        select(ConversationOutcome.surveyed_at)
        .join(Conversation, Conversation.id == ConversationOutcome.conversation_id)
        .where(Conversation.customer_id == customer_id, Conversation.id < conversation_id)
        .order_by(Conversation.id.desc())
        .limit(1)
    )
    return previous is None


async def mark_surveyed(session: AsyncSession, conversation_id: int, now: datetime) -> None:
    await session.execute(
        update(ConversationOutcome)
        .where(ConversationOutcome.conversation_id == conversation_id)
        .values(surveyed_at=now)
    )


class RatingResult(StrEnum):
    CREATED = "created"
    CHANGED = "changed"
    LOCKED = "locked"  # the change window has passed


async def save_rating(
    session: AsyncSession,
    conversation_id: int,
    customer_id: int,
    score: int,
    *,
    now: datetime,
    changeable_after: datetime,
) -> RatingResult:
    """One rating per conversation: the first creates it, later ones change it in time."""
    existing = (
        await session.execute(
            select(Rating.id, Rating.created_at).where(Rating.conversation_id == conversation_id)
        )
    ).one_or_none()
    if existing is None:
        await session.execute(
            insert(Rating).values(
                conversation_id=conversation_id,
                customer_id=customer_id,
                score=score,
                created_at=now,
                updated_at=now,
            )
        )
        return RatingResult.CREATED
    if existing.created_at < changeable_after:
        return RatingResult.LOCKED
    await session.execute(
        update(Rating).where(Rating.id == existing.id).values(score=score, updated_at=now)
    )
    return RatingResult.CHANGED


async def save_comment(
    session: AsyncSession, conversation_id: int, comment: str, now: datetime
) -> None:
    await session.execute(
        update(Rating)
        .where(Rating.conversation_id == conversation_id)
        .values(comment=comment, updated_at=now)
    )


async def rating_commented(session: AsyncSession, conversation_id: int) -> bool:
    comment = await session.scalar(
        select(Rating.comment).where(Rating.conversation_id == conversation_id)
    )
    return comment is not None


@dataclass(frozen=True, slots=True)
class AwaitedComment:
    channel: str
    chat_id: int
    conversation_id: int
    rated_at: datetime


async def awaited_comments(session: AsyncSession, *, rated_after: datetime) -> list[AwaitedComment]:
    """Ratings whose optional comment is still awaited: tapped after `rated_after`, without
    a comment, and no text from that chat recorded since (such a text ended the wait: while
    waiting, a text is the comment and is not recorded as a message). Oldest tap first."""
    chat = aliased(Conversation)
    text_since = (
        select(Message.id)
        .join(chat, chat.id == Message.conversation_id)
        .where(
            chat.channel == Conversation.channel,
            chat.chat_id == Conversation.chat_id,
            Message.author == "customer",
            Message.kind == "text",
            Message.created_at > Rating.updated_at,
        )
        .exists()
    )
    rows = await session.execute(
        select(
            Conversation.channel, Conversation.chat_id, Rating.conversation_id, Rating.updated_at
        )
        .join(Conversation, Conversation.id == Rating.conversation_id)
        .where(Rating.comment.is_(None), Rating.updated_at > rated_after, ~text_since)
        .order_by(Rating.updated_at, Rating.id)
    )
    return [AwaitedComment(*row) for row in rows.all()]


async def save_answer_vote(
    session: AsyncSession, message_id: int, conversation_id: int, helpful: bool, now: datetime
) -> None:
    existing = await session.scalar(
        select(AnswerFeedback.id).where(AnswerFeedback.message_id == message_id)
    )
    if existing is None:
        await session.execute(
            insert(AnswerFeedback).values(
                message_id=message_id,
                conversation_id=conversation_id,
                helpful=helpful,
                created_at=now,
                updated_at=now,
            )
        )
    else:
        await session.execute(
            update(AnswerFeedback)
            .where(AnswerFeedback.id == existing)
            .values(helpful=helpful, updated_at=now)
        )


@dataclass(frozen=True, slots=True)
class ConversationOwner:
    id: int
    customer_id: int
    channel: str
    chat_id: int


async def conversation_owner(
    session: AsyncSession, conversation_id: int
) -> ConversationOwner | None:
    row = (
        await session.execute(
            select(
                Conversation.id,
                Conversation.customer_id,
                Conversation.channel,
                Conversation.chat_id,
            ).where(Conversation.id == conversation_id)
        )
    ).one_or_none()
    return ConversationOwner(*row) if row is not None else None


async def bot_message_conversation(session: AsyncSession, message_id: int) -> int | None:
    return await session.scalar(
        select(Message.conversation_id).where(Message.id == message_id, Message.author == "bot")
    )


def _ask_for_feedback() -> Any:
    messages, customers, feedback = tables.messages, tables.customers, tables.answer_feedback
    conversations = tables.conversations
    previous_answer = (
        select(func.max(messages.c.id))
        .where(
            messages.c.conversation_id == bindparam("conversation_id"),
            messages.c.author == "bot",
            messages.c.id < bindparam("message_id"),
        )
        .scalar_subquery()
    )
    previous_ask = feedback.alias("previous_ask")
    now = bindparam("now", type_=feedback.c.created_at.type)
    asked = (
        select(
            bindparam("message_id", type_=Integer),
            bindparam("conversation_id", type_=Integer),
            null(),
            now,
            now,
        )
        .select_from(conversations)
        .join(customers, customers.c.id == conversations.c.customer_id)
        .outerjoin(previous_ask, previous_ask.c.message_id == previous_answer)
        .where(
            conversations.c.id == bindparam("conversation_id"),
            customers.c.notifications_opted_out_at.is_(None),
            # Buttons left unanswered under the previous answer: the customer ignores them.
            or_(previous_ask.c.id.is_(None), previous_ask.c.helpful.is_not(None)),
        )
    )
    columns = ["message_id", "conversation_id", "helpful", "created_at", "updated_at"]
    return insert(feedback).from_select(columns, asked).returning(feedback.c.id)


# Run before every answer: one statement, built once (see helpdesk.store.dialect).
_ASK_FOR_FEEDBACK = _ask_for_feedback()


async def ask_for_feedback(
    session: Executor, conversation_id: int, message_id: int, now: datetime
) -> bool:
    """Record that this answer asks "did it help?", unless the customer opted out of
    messages or left the previous answer's buttons untouched; whether it was recorded."""
    found = {"conversation_id": conversation_id, "message_id": message_id, "now": now}
    return (await session.execute(_ASK_FOR_FEEDBACK, found)).first() is not None
