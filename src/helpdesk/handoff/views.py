"""What agents see of a conversation: plain dataclasses for the console and the API."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class CustomerView:
    id: int
    channel: str
    external_id: int
    name: str | None
    username: str | None
    language_code: str | None
    # Set once the customer proved the number with an SMS code (helpdesk.verification).
    phone_e164: str | None = None
    phone_verified_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class MessageView:
    id: int
    author: str
    direction: str
    kind: str
    text: str | None
    caption: str | None
    file_id: str | None
    created_at: datetime
    confidence: float | None = None
    sources: list[dict[str, Any]] = field(default_factory=list)
    agent_id: int | None = None


@dataclass(frozen=True, slots=True)
class NoteView:
    id: int
    agent_id: int | None
    text: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class EventView:
    event: str
    from_state: str
    to_state: str
    actor: str
    reason: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    id: int
    state: str
    channel: str
    chat_id: int
    customer: CustomerView
    needs_human: bool
    escalation_reason: str | None
    escalation_detail: str | None
    escalated_at: datetime | None
    assigned_agent_id: int | None
    updated_at: datetime
    last_message: str | None


@dataclass(frozen=True, slots=True)
class ConversationDetail:
    summary: ConversationSummary
    messages: list[MessageView]
    notes: list[NoteView]
    events: list[EventView]
    past_conversations: list[int]
