"""Plain domain types shared by every room of the house.

Nothing here imports a framework, an SDK or the database: channels, the brain,
the store and the handoff all speak in these types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal


class ConversationState(StrEnum):
    BOT = "bot"
    WAITING = "waiting"
    HUMAN = "human"
    RESOLVED = "resolved"


class Direction(StrEnum):
    INBOUND = "in"
    OUTBOUND = "out"


class Author(StrEnum):
    CUSTOMER = "customer"
    BOT = "bot"
    AGENT = "agent"
    SYSTEM = "system"


class MessageKind(StrEnum):
    TEXT = "text"
    COMMAND = "command"
    PHOTO = "photo"
    VOICE = "voice"
    AUDIO = "audio"
    VIDEO = "video"
    DOCUMENT = "document"
    STICKER = "sticker"
    LOCATION = "location"
    CONTACT = "contact"
    EDITED = "edited"
    CALLBACK = "callback"
    OTHER = "other"


MEDIA_KINDS = frozenset(
    {
        MessageKind.PHOTO,
        MessageKind.VOICE,
        MessageKind.AUDIO,
        MessageKind.VIDEO,
        MessageKind.DOCUMENT,
        MessageKind.STICKER,
        MessageKind.LOCATION,
        MessageKind.CONTACT,
    }
)


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """One customer event from any channel, as recorded before it is acknowledged."""

    channel: str
    update_id: int
    chat_id: int
    user_id: int | None
    kind: MessageKind
    sent_at: datetime
    message_id: int | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    language_code: str | None = None
    text: str | None = None
    caption: str | None = None
    file_id: str | None = None
    # Location coordinates, contact phone, callback data...: whatever the kind carries.
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_media(self) -> bool:
        return self.kind in MEDIA_KINDS


@dataclass(frozen=True, slots=True)
class Turn:
    """One line of conversation history handed to the brain."""

    author: Author
    text: str


@dataclass(frozen=True, slots=True)
class Source:
    """A knowledge-base article used for an answer."""

    article_id: str
    title: str
    url: str | None
    score: float


@dataclass(frozen=True, slots=True)
class Answer:
    """What either responder (LLM or offline) returns for one customer message.

    `text` is Markdown; each channel renders it for its own medium.
    """

    text: str
    confidence: float
    sources: tuple[Source, ...] = ()
    needs_human: bool = False
    reason: str | None = None
    responder: Literal["llm", "offline", "fallback"] = "offline"
    model: str | None = None
    latency_ms: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    keyword_hits: tuple[str, ...] = ()


class EscalationReason(StrEnum):
    LOW_CONFIDENCE = "low_confidence"
    KEYWORD = "keyword"
    EXPLICIT_REQUEST = "explicit_request"
    REPETITION = "repetition"
    SENTIMENT = "sentiment"
    LLM_FAILURE = "llm_failure"
    LLM_REQUEST = "llm_request"
