"""Turn a raw Telegram update (webhook body or getUpdates item) into an IncomingMessage.

aiogram's pydantic models do the structural validation, so a payload that would
crash the conversation worker later is refused here, before it is acknowledged.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiogram.types import CallbackQuery, Chat, Message, Update, User
from pydantic import ValidationError

from helpdesk.domain import IncomingMessage, MessageKind

CHANNEL = "telegram"

# What the bot asks Telegram for (getUpdates and setWebhook): anything else is noise.
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]


class InvalidUpdate(ValueError):
    """The payload is not a Telegram update the bot can act on."""


class UnsupportedUpdate(InvalidUpdate):
    """A well-formed update that concerns no chat (inline query, poll...): nothing to reply to.

    A subclass so a webhook can log it quietly while still refusing to record it.
    """


def parse_update(payload: Any) -> IncomingMessage:
    """Parse one update; raise InvalidUpdate (or UnsupportedUpdate) when it cannot be used."""
    if not isinstance(payload, dict):
        raise InvalidUpdate(f"update must be a JSON object, got {type(payload).__name__}")
    update_id = payload.get("update_id")
    # bool is an int in Python, and pydantic would coerce "5": both mean a broken sender.
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        raise InvalidUpdate(f"update_id must be an integer, got {update_id!r}")
    try:
        update = Update.model_validate(payload)
    except ValidationError as exc:
        raise InvalidUpdate(f"update {update_id} is malformed: {_describe(exc)}") from exc

    if update.message is not None:
        return _from_message(update_id, update.message, edited=False)
    if update.edited_message is not None:
        return _from_message(update_id, update.edited_message, edited=True)
    if update.callback_query is not None:
        return _from_callback(update_id, update.callback_query)
    return _from_other(update_id, update, payload)


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error["loc"])
        parts.append(f"{where}: {error['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _user_fields(user: User | None) -> dict[str, Any]:
    if user is None:
        return {"user_id": None}
    return {
        "user_id": user.id,
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "language_code": user.language_code,
    }


def _media(message: Message) -> tuple[MessageKind, dict[str, Any]]:
    """Kind of a message plus the fields that kind carries (file_id, text, extra)."""
    if message.text is not None:
        if message.text.startswith("/"):
            head, _, args = message.text.partition(" ")
            # "/start@helpdesk_bot" in groups: the bot name is addressing, not the command.
            command = head.split("@", 1)[0].lower()
            return MessageKind.COMMAND, {"extra": {"command": command, "args": args.strip()}}
        return MessageKind.TEXT, {}
    if message.photo:
        largest = max(message.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
        extra = {"file_unique_id": largest.file_unique_id, "width": largest.width}
        extra["height"] = largest.height
        return MessageKind.PHOTO, {"file_id": largest.file_id, "extra": extra}
    for kind, attachment in (
        (MessageKind.VOICE, message.voice),
        (MessageKind.AUDIO, message.audio),
        (MessageKind.VIDEO, message.video),
        (MessageKind.VIDEO, message.video_note),
        (MessageKind.DOCUMENT, message.document),  # also set for animations (GIFs)
        (MessageKind.STICKER, message.sticker),
    ):
        if attachment is not None:
            extra = {
                key: value
                for key in ("file_unique_id", "mime_type", "file_name", "file_size", "duration")
                if (value := getattr(attachment, key, None)) is not None
            }
            if kind is MessageKind.STICKER and message.sticker is not None:
                extra["emoji"] = message.sticker.emoji
            return kind, {"file_id": attachment.file_id, "extra": extra}
    location = message.location or (message.venue.location if message.venue else None)
    if location is not None:
        extra = {"latitude": location.latitude, "longitude": location.longitude}
        if message.venue is not None:
            extra["title"] = message.venue.title
            extra["address"] = message.venue.address
        return MessageKind.LOCATION, {"extra": extra}
    if message.contact is not None:
        contact = message.contact
        extra = {
            "phone_number": contact.phone_number,
            "user_id": contact.user_id,
            "first_name": contact.first_name,
            "last_name": contact.last_name,
        }
        return MessageKind.CONTACT, {"extra": extra}
    return MessageKind.OTHER, {}


def _from_message(update_id: int, message: Message, *, edited: bool) -> IncomingMessage:
    kind, fields = _media(message)
    extra: dict[str, Any] = dict(fields.get("extra", {}))
    sent_at = _utc(message.date)
    if edited:
        # Keep what the edited message is, the kind says only that it was an edit.
        extra["edited_kind"] = kind.value
        extra["original_sent_at"] = sent_at.isoformat()
        if message.edit_date is not None:
            sent_at = datetime.fromtimestamp(message.edit_date, UTC)
        kind = MessageKind.EDITED
    if message.chat.type != "private":
        extra["chat_type"] = message.chat.type
    return IncomingMessage(
        channel=CHANNEL,
        update_id=update_id,
        chat_id=message.chat.id,
        kind=kind,
        sent_at=sent_at,
        message_id=message.message_id,
        text=message.text,
        caption=message.caption,
        file_id=fields.get("file_id"),
        extra=extra,
        **_user_fields(message.from_user),
    )


def _from_callback(update_id: int, callback: CallbackQuery) -> IncomingMessage:
    # Callbacks from inline-mode messages carry no chat: there is nowhere to answer.
    if callback.message is None:
        raise UnsupportedUpdate(f"callback_query in update {update_id} has no message/chat")
    return IncomingMessage(
        channel=CHANNEL,
        update_id=update_id,
        chat_id=callback.message.chat.id,
        kind=MessageKind.CALLBACK,
        # A button press carries no timestamp of its own; the receipt time is the best we have.
        sent_at=datetime.now(UTC),
        message_id=callback.message.message_id,
        extra={"data": callback.data, "callback_query_id": callback.id},
        **_user_fields(callback.from_user),
    )


def _from_other(update_id: int, update: Update, payload: dict[str, Any]) -> IncomingMessage:
    # Take the type from the payload: aiogram raises on update types newer than itself.
    event_type = next((key for key in payload if key != "update_id"), "unknown")
    event = getattr(update, event_type, None)
    chat = getattr(event, "chat", None)
    chat_id = chat.id if isinstance(chat, Chat) else None
    if chat_id is None and isinstance(event, dict) and isinstance(event.get("chat"), dict):
        raw_id = event["chat"].get("id")
        chat_id = raw_id if isinstance(raw_id, int) and not isinstance(raw_id, bool) else None
    if chat_id is None:
        raise UnsupportedUpdate(f"update {update_id} ({event_type}) concerns no chat")
    user = getattr(event, "from_user", None)
    when = getattr(event, "date", None)
    message_id = getattr(event, "message_id", None)
    return IncomingMessage(
        channel=CHANNEL,
        update_id=update_id,
        chat_id=chat_id,
        kind=MessageKind.OTHER,
        sent_at=_utc(when) if isinstance(when, datetime) else datetime.now(UTC),
        message_id=message_id if isinstance(message_id, int) else None,
        extra={"update_type": event_type},
        **_user_fields(user if isinstance(user, User) else None),
    )
