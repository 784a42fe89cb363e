"""Outcomes, ratings and answer feedback (analytics; migration 0004)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.store.models.base import Base
from helpdesk.store.models.conversations import Conversation, Message
from helpdesk.store.types import UTCDateTime, utcnow


class ConversationOutcome(Base):
    """How a conversation ended, decided once by helpdesk.analytics.outcomes."""

    __tablename__ = "conversation_outcomes"

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    # resolved_bot | resolved_agent | abandoned (see helpdesk.analytics.outcomes.Outcome)
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    # The moment it was resolved (or left): what resolution time is measured to.
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    surveyed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Rating(Base):
    """The customer's 1-5 satisfaction rating of a conversation (one, changeable)."""

    __tablename__ = "ratings"
    __table_args__ = (Index("ix_ratings_customer", "customer_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), unique=True
    )
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AnswerFeedback(Base):
    """The "Did this answer help?" buttons on one bot answer: asked, then 👍/👎."""

    __tablename__ = "answer_feedback"
    __table_args__ = (Index("ix_answer_feedback_conversation", "conversation_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), unique=True
    )
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    # None while asked and unanswered: "never asked twice in a row" reads it.
    helpful: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# Periods are filtered by creation time: reports and exports would scan without these.
Index("ix_conversations_created_at", Conversation.created_at)
Index("ix_messages_created_at", Message.created_at)
