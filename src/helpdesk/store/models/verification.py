"""Phone verification in progress (migration 0003)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.store.models.base import Base
from helpdesk.store.types import UTCDateTime, utcnow


class PhoneVerification(Base):
    """One attempt to prove a phone number: the chat's state, then the code sent.

    `awaiting_number` rows say the next contact or number in the chat is for us;
    `pending` rows hold a sent code (only its HMAC, or nothing when Twilio Verify
    keeps it). Rows are kept: the daily caps count the codes sent in the last 24 h.
    """

    __tablename__ = "phone_verifications"
    __table_args__ = (
        Index("ix_phone_verifications_customer", "customer_id", "id"),
        Index("ix_phone_verifications_phone_sent", "phone_e164", "sent_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    # awaiting_number | pending | verified | failed | expired | cancelled | superseded
    # | send_failed
    status: Mapped[str] = mapped_column(String(16))
    phone_e164: Mapped[str | None] = mapped_column(String(20))
    backend: Mapped[str | None] = mapped_column(String(16))  # own | twilio_verify
    code_salt: Mapped[str | None] = mapped_column(String(32))
    code_hash: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
