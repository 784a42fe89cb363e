"""Request and response bodies of the JSON API (they are its OpenAPI documentation)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from helpdesk.domain import ConversationState
from helpdesk.handoff.views import ConversationDetail

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# Alerts go out by SMS through Twilio, which wants E.164.
_PHONE = re.compile(r"\+[1-9]\d{6,14}")


def _email(value: str) -> str:
    value = value.strip().lower()
    if not _EMAIL.fullmatch(value):
        raise ValueError("not an email address (expected name@example.com)")
    return value


def _phone(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.replace(" ", "").replace("-", "")
    if not _PHONE.fullmatch(value):
        raise ValueError("phone must be in international format, e.g. +4915112345678")
    return value


Email = Annotated[str, StringConstraints(max_length=255), AfterValidator(_email)]
Phone = Annotated[str | None, AfterValidator(_phone)]
Password = Annotated[str, StringConstraints(min_length=8, max_length=256)]
Role = Literal["admin", "agent"]
# Telegram takes 4096 characters per message; longer replies are split by the outlet.
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16000)]


class Problem(BaseModel):
    """Every error other than 422: a sentence saying what went wrong."""

    detail: str


class ValidationProblem(BaseModel):
    """422: `message` sums up every error; `detail` lists them as FastAPI does."""

    message: str
    detail: list[dict[str, Any]]


# Auth --------------------------------------------------------------------------------


class TokenRequest(BaseModel):
    email: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds until the token expires")


# Agents ------------------------------------------------------------------------------


class AgentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str
    phone: str | None
    role: Role
    available: bool
    active: bool
    created_at: datetime
    last_seen_at: datetime | None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class AgentCreate(BaseModel):
    email: Email
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
    password: Password
    phone: Phone = None
    role: Role = "agent"


class Availability(BaseModel):
    available: bool = Field(description="true: ready to take conversations; false: away")


# Conversations -----------------------------------------------------------------------


class CustomerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    channel: str
    external_id: int
    name: str | None
    username: str | None
    language_code: str | None
    phone_e164: str | None = Field(
        default=None, description="the phone number the customer verified by SMS code (E.164)"
    )
    phone_verified_at: datetime | None = Field(
        default=None, description="when the customer verified it; null: not verified"
    )


class ConversationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    state: ConversationState
    channel: str
    chat_id: int
    customer: CustomerOut
    needs_human: bool
    escalation_reason: str | None = Field(
        description="low_confidence, keyword, explicit_request, repetition, sentiment, "
        "llm_failure or llm_request"
    )
    escalation_detail: str | None
    escalated_at: datetime | None
    assigned_agent_id: int | None
    updated_at: datetime
    last_message: str | None


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    author: Literal["customer", "bot", "agent", "system"]
    direction: Literal["in", "out"]
    kind: str
    text: str | None
    caption: str | None
    file_id: str | None
    created_at: datetime
    confidence: float | None
    sources: list[dict[str, Any]]
    agent_id: int | None


class NoteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    agent_id: int | None
    text: str
    created_at: datetime


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    event: str
    from_state: str
    to_state: str
    actor: str = Field(description='"bot", or "agent:<id>"')
    reason: str | None
    at: datetime


class ConversationDetailOut(ConversationOut):
    messages: list[MessageOut]
    notes: list[NoteOut]
    events: list[AuditEventOut]
    past_conversations: list[int] = Field(description="earlier conversations of this customer")

    @classmethod
    def of(cls, detail: ConversationDetail) -> ConversationDetailOut:
        summary = ConversationOut.model_validate(detail.summary)
        return cls.model_validate(
            {
                **dict(summary),
                "messages": detail.messages,
                "notes": detail.notes,
                "events": detail.events,
                "past_conversations": detail.past_conversations,
            },
            from_attributes=True,
        )


Reason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


class AssignRequest(BaseModel):
    agent_id: int | None = Field(
        default=None, description="admins only: assign to this agent instead of yourself"
    )
    takeover: bool = Field(
        default=False,
        description="admins only: take the conversation even if another agent holds it",
    )
    reason: Reason | None = Field(
        default=None, description="why, for the audit trail (with takeover)"
    )


class MessageIn(BaseModel):
    text: Text = Field(description="Markdown, sent to the customer on their channel")


class NoteIn(BaseModel):
    text: Text = Field(description="internal: never shown to the customer")


class Created(BaseModel):
    id: int
    conversation_id: int


# Live events -------------------------------------------------------------------------


class ConsoleEvent(BaseModel):
    """One server-sent event; `type` says which of the optional fields are set."""

    # Other parts of the service may publish new kinds and fields: pass them through.
    model_config = ConfigDict(extra="allow")

    type: str = Field(
        description='"ready" (first, once subscribed), "message", "state", "note" or "alert"'
    )
    at: datetime
    conversation_id: int | None = None
    message_id: int | None = None
    author: str | None = None
    agent_id: int | None = None
    text: str | None = None
    state: str | None = None
    previous: str | None = None
    reason: str | None = None
    note_id: int | None = None
    id: str | None = Field(
        default=None, description="the event's id, as in the SSE `id:` line (Last-Event-ID)"
    )
    replayed: int | None = Field(
        default=None, description='"ready": how many missed events follow (Last-Event-ID)'
    )
    missed: bool | None = Field(
        default=None,
        description='"ready": true if events after Last-Event-ID may be lost: re-read',
    )
