"""Customer updates: campaigns and their recipients (migration 0005), and the audit
trail of what admins did to them (migration 0007)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.store.models.base import Base
from helpdesk.store.types import JSONType, UTCDateTime, utcnow


class Campaign(Base):
    """An important update to customers (issue 6): one text, a segment, one or two channels."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    segment: Mapped[str] = mapped_column(String(255))
    channel: Mapped[str] = mapped_column(String(16))  # telegram, sms or both
    text: Mapped[str] = mapped_column(Text)
    # Per-language variants of `text`: {"de": "..."}; the customer's language picks one.
    variants: Mapped[Any | None] = mapped_column(JSONType)
    link: Mapped[str | None] = mapped_column(String(1000))
    created_by: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="sending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CampaignRecipient(Base):
    """One customer on one channel of a campaign: what makes progress reportable and a
    restart safe (a recipient row is claimed, sent and recorded exactly once)."""

    __tablename__ = "campaign_recipients"
    __table_args__ = (
        UniqueConstraint("campaign_id", "customer_id", "channel"),
        Index("ix_campaign_recipients_due", "channel", "status", "next_attempt_at"),
        Index("ix_campaign_recipients_progress", "campaign_id", "status"),
        Index("ix_campaign_recipients_external_id", "external_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(32))  # chat id or E.164 number
    body: Mapped[str] = mapped_column(Text)
    segments: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id", ondelete="SET NULL"))
    external_id: Mapped[str | None] = mapped_column(String(64))
    delivery_status: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CampaignEvent(Base):
    """The audit trail of a campaign: who did what to it when (today: cancelled it)."""

    __tablename__ = "campaign_events"
    __table_args__ = (Index("ix_campaign_events_campaign", "campaign_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(16))
    # "agent:3 boss@example.com" or "cli:alice", like campaigns.created_by.
    actor: Mapped[str] = mapped_column(String(255))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    detail: Mapped[Any | None] = mapped_column(JSONType)  # e.g. {"recipients": 12}
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
