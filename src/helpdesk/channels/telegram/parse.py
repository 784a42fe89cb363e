"""Turn a raw Telegram update (webhook body or getUpdates item) into an IncomingMessage.

A payload that would crash the conversation worker later is refused here, before it is
acknowledged: every field read is type-checked (no coercion: "5" is not an integer), and
the whole update must also build python-telegram-bot's models.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal, TypeGuard, overload

from telegram import Update

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


class _Malformed(Exception):
    """A field has the wrong type or is missing; the message says which."""


Json = dict[str, Any]


def parse_update(payload: Any) -> IncomingMessage:
    """Parse one update; raise InvalidUpdate (or UnsupportedUpdate) when it cannot be used."""
    if not isinstance(payload, dict):
        raise InvalidUpdate(f"update must be a JSON object, got {type(payload).__name__}")
    update_id = payload.get("update_id")
    # bool is an int in Python, and "5" is a string: both mean a broken sender.
    if not _is_int(update_id):
        raise InvalidUpdate(f"update_id must be an integer, got {update_id!r}")
    result: IncomingMessage | UnsupportedUpdate
    try:
        result = _route(update_id, payload)
    except _Malformed as exc:
        raise InvalidUpdate(f"update {update_id} is malformed: {exc}") from exc
    except UnsupportedUpdate as exc:
        result = exc
    # The parts not read here must still be well-formed where Telegram defines them.
    try:
        Update.de_json(payload)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        reason = f"{type(exc).__name__}: {exc}"
        raise InvalidUpdate(f"update {update_id} is malformed: {reason}") from exc
    if isinstance(result, UnsupportedUpdate):
        raise result
    return result


def _route(update_id: int, payload: Json) -> IncomingMessage:
    if payload.get("message") is not None:
        return _from_message(update_id, _obj(payload, "message"), "message", edited=False)
    if payload.get("edited_message") is not None:
        message = _obj(payload, "edited_message")
        return _from_message(update_id, message, "edited_message", edited=True)
    if payload.get("callback_query") is not None:
        return _from_callback(update_id, _obj(payload, "callback_query"))
    return _from_other(update_id, payload)


# ---- typed access to the raw JSON ---------------------------------------------------------


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _field(data: Json, key: str, where: str, required: bool) -> Any:
    value = data.get(key)
    if value is None and required:
        raise _Malformed(f"{_at(where, key)}: field required")
    return value


def _wrong(where: str, key: str, expected: str, value: Any) -> _Malformed:
    return _Malformed(f"{_at(where, key)}: expected {expected}, got {value!r}")


@overload
def _int(data: Json, key: str, where: str = "", *, required: Literal[True] = ...) -> int: ...
@overload
def _int(data: Json, key: str, where: str = "", *, required: bool) -> int | None: ...
def _int(data: Json, key: str, where: str = "", *, required: bool = True) -> int | None:
    value = _field(data, key, where, required)
    if value is None or _is_int(value):
        return value
    raise _wrong(where, key, "an integer", value)


@overload
def _str(data: Json, key: str, where: str = "", *, required: Literal[True]) -> str: ...
@overload
def _str(data: Json, key: str, where: str = "", *, required: bool = False) -> str | None: ...
def _str(data: Json, key: str, where: str = "", *, required: bool = False) -> str | None:
    value = _field(data, key, where, required)
    if value is None or isinstance(value, str):
        return value
    raise _wrong(where, key, "a string", value)


def _float(data: Json, key: str, where: str) -> float:
    value = _field(data, key, where, True)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _wrong(where, key, "a number", value)
    return float(value)


def _opt_obj(data: Json, key: str, where: str = "") -> Json | None:
    value = data.get(key)
    if value is None or isinstance(value, dict):
        return value
    raise _wrong(where, key, "an object", value)


def _obj(data: Json, key: str, where: str = "") -> Json:
    value = _opt_obj(data, key, where)
    if value is None:
        raise _Malformed(f"{_at(where, key)}: field required")
    return value


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _timestamp(value: int) -> datetime:
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise _Malformed(f"date {value} is out of range") from exc


# ---- the parts of an update --------------------------------------------------------------


def _user_fields(data: Json, key: str, where: str) -> dict[str, Any]:
    user = _opt_obj(data, key, where)
    if user is None:
        return {"user_id": None}
    at = _at(where, key)
    _str(user, "first_name", at, required=True)
    if not isinstance(user.get("is_bot"), bool):
        raise _wrong(at, "is_bot", "a boolean", user.get("is_bot"))
    return {
        "user_id": _int(user, "id", at),
        "username": _str(user, "username", at),
        "first_name": _str(user, "first_name", at),
        "last_name": _str(user, "last_name", at),
        "language_code": _str(user, "language_code", at),
    }


def _chat(message: Json, where: str) -> tuple[int, str]:
    chat = _obj(message, "chat", where)
    at = _at(where, "chat")
    return _int(chat, "id", at), _str(chat, "type", at, required=True)


def _file(data: Json, key: str, where: str) -> tuple[str, Json] | None:
    """(file_id, extra) of an attachment, None if the message has none of this kind."""
    attachment = _opt_obj(data, key, where)
    if attachment is None:
        return None
    at = _at(where, key)
    file_id = _str(attachment, "file_id", at, required=True)
    _str(attachment, "file_unique_id", at, required=True)
    extra: Json = {}
    for name, read in (
        ("file_unique_id", _str),
        ("mime_type", _str),
        ("file_name", _str),
        ("file_size", _int),
        ("duration", _int),
    ):
        if (value := read(attachment, name, at, required=False)) is not None:
            extra[name] = value
    return file_id, extra


def _photo(message: Json, where: str) -> tuple[MessageKind, Json] | None:
    sizes = message.get("photo")
    if sizes is None:
        return None
    if not isinstance(sizes, list):
        raise _wrong(where, "photo", "an array", sizes)
    checked = []
    for index, size in enumerate(sizes):
        if not isinstance(size, dict):
            raise _wrong(where, f"photo.{index}", "an object", size)
        at = _at(where, f"photo.{index}")
        file_id = _str(size, "file_id", at, required=True)
        unique_id = _str(size, "file_unique_id", at, required=True)
        width, height = _int(size, "width", at), _int(size, "height", at)
        file_size = _int(size, "file_size", at, required=False) or 0
        checked.append((width, height, file_size, file_id, unique_id))
    if not checked:
        return None
    width, height, _, file_id, unique_id = max(checked, key=lambda s: (s[0] * s[1], s[2]))
    extra = {"file_unique_id": unique_id, "width": width, "height": height}
    return MessageKind.PHOTO, {"file_id": file_id, "extra": extra}


def _location(data: Json, key: str, where: str, *, required: bool = False) -> Json | None:
    location = _obj(data, key, where) if required else _opt_obj(data, key, where)
    if location is None:
        return None
    at = _at(where, key)
    return {
        "latitude": _float(location, "latitude", at),
        "longitude": _float(location, "longitude", at),
    }


def _media(message: Json, where: str) -> tuple[MessageKind, Json]:
    """Kind of a message plus the fields that kind carries (file_id, extra)."""
    text = _str(message, "text", where)
    if text is not None:
        if text.startswith("/"):
            head, _, args = text.partition(" ")
            # "/start@helpdesk_bot" in groups: the bot name is addressing, not the command.
            command = head.split("@", 1)[0].lower()
            return MessageKind.COMMAND, {"extra": {"command": command, "args": args.strip()}}
        return MessageKind.TEXT, {}
    if (photo := _photo(message, where)) is not None:
        return photo
    for kind, key in (
        (MessageKind.VOICE, "voice"),
        (MessageKind.AUDIO, "audio"),
        (MessageKind.VIDEO, "video"),
        (MessageKind.VIDEO, "video_note"),
        (MessageKind.DOCUMENT, "document"),  # also set for animations (GIFs)
        (MessageKind.STICKER, "sticker"),
    ):
        if (found := _file(message, key, where)) is not None:
            file_id, extra = found
            if kind is MessageKind.STICKER:
                extra["emoji"] = _str(message["sticker"], "emoji", _at(where, key))
            return kind, {"file_id": file_id, "extra": extra}
    location = _location(message, "location", where)
    venue = _opt_obj(message, "venue", where)
    if venue is not None:
        at = _at(where, "venue")
        venue_location = _location(venue, "location", at, required=True)
        extra = dict(location or venue_location or {})
        extra["title"] = _str(venue, "title", at, required=True)
        extra["address"] = _str(venue, "address", at, required=True)
        return MessageKind.LOCATION, {"extra": extra}
    if location is not None:
        return MessageKind.LOCATION, {"extra": location}
    contact = _opt_obj(message, "contact", where)
    if contact is not None:
        at = _at(where, "contact")
        extra = {
            "phone_number": _str(contact, "phone_number", at, required=True),
            "user_id": _int(contact, "user_id", at, required=False),
            "first_name": _str(contact, "first_name", at, required=True),
            "last_name": _str(contact, "last_name", at),
        }
        return MessageKind.CONTACT, {"extra": extra}
    return MessageKind.OTHER, {}


def _from_message(update_id: int, message: Json, where: str, *, edited: bool) -> IncomingMessage:
    message_id = _int(message, "message_id", where)
    date = _int(message, "date", where)
    chat_id, chat_type = _chat(message, where)
    user = _user_fields(message, "from", where)
    kind, fields = _media(message, where)
    extra: Json = dict(fields.get("extra", {}))
    sent_at = _timestamp(date)
    if edited:
        # Keep what the edited message is, the kind says only that it was an edit.
        extra["edited_kind"] = kind.value
        extra["original_sent_at"] = sent_at.isoformat()
        edit_date = _int(message, "edit_date", where, required=False)
        if edit_date is not None:
            sent_at = _timestamp(edit_date)
        kind = MessageKind.EDITED
    if chat_type != "private":
        extra["chat_type"] = chat_type
    return IncomingMessage(
        channel=CHANNEL,
        update_id=update_id,
        chat_id=chat_id,
        kind=kind,
        sent_at=sent_at,
        message_id=message_id,
        text=_str(message, "text", where),
        caption=_str(message, "caption", where),
        file_id=fields.get("file_id"),
        extra=extra,
        **user,
    )


def _from_callback(update_id: int, callback: Json) -> IncomingMessage:
    where = "callback_query"
    callback_id = _str(callback, "id", where, required=True)
    if callback.get("from") is None:
        raise _Malformed(f"{where}.from: field required")
    user = _user_fields(callback, "from", where)
    data = _str(callback, "data", where)
    # Callbacks from inline-mode messages carry no chat: there is nowhere to answer.
    message = _opt_obj(callback, "message", where)
    if message is None:
        raise UnsupportedUpdate(f"callback_query in update {update_id} has no message/chat")
    at = _at(where, "message")
    message_id = _int(message, "message_id", at)
    _int(message, "date", at, required=False)  # 0 when too old to be accessible
    chat_id, _ = _chat(message, at)
    return IncomingMessage(
        channel=CHANNEL,
        update_id=update_id,
        chat_id=chat_id,
        kind=MessageKind.CALLBACK,
        # A button press carries no timestamp of its own; the receipt time is the best we have.
        sent_at=datetime.now(UTC),
        message_id=message_id,
        extra={"data": data, "callback_query_id": callback_id},
        **user,
    )


def _from_other(update_id: int, payload: Json) -> IncomingMessage:
    # Any update type, even one newer than this code: read only what is there.
    event_type = next((key for key in payload if key != "update_id"), "unknown")
    event = payload.get(event_type)
    chat = event.get("chat") if isinstance(event, dict) else None
    chat_id = chat.get("id") if isinstance(chat, dict) else None
    if not isinstance(event, dict) or not _is_int(chat_id):
        raise UnsupportedUpdate(f"update {update_id} ({event_type}) concerns no chat")
    when = event.get("date")
    message_id = event.get("message_id")
    return IncomingMessage(
        channel=CHANNEL,
        update_id=update_id,
        chat_id=chat_id,
        kind=MessageKind.OTHER,
        sent_at=_timestamp(when) if _is_int(when) else datetime.now(UTC),
        message_id=message_id if _is_int(message_id) else None,
        extra={"update_type": event_type},
        **_user_fields(event, "from", event_type),
    )
