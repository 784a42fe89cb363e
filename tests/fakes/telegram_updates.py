"""Builders of realistic Telegram update payloads (as the Bot API sends them).

Private chats: chat id == user id, as on Telegram. Pass `chat_id` negative and a
different `user_id` for a group.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

_file_counter = itertools.count(1)


def _file(prefix: str) -> dict[str, str]:
    n = next(_file_counter)
    return {"file_id": f"{prefix}-file-{n}", "file_unique_id": f"{prefix}-uniq-{n}"}


def tg_user(
    user_id: int,
    *,
    first_name: str = "Ada",
    last_name: str | None = "Lovelace",
    username: str | None = "ada",
    language_code: str | None = "en",
) -> dict[str, Any]:
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    if last_name is not None:
        user["last_name"] = last_name
    if username is not None:
        user["username"] = username
    if language_code is not None:
        user["language_code"] = language_code
    return user


def tg_chat(chat_id: int, user: dict[str, Any] | None = None) -> dict[str, Any]:
    if chat_id < 0:
        return {"id": chat_id, "type": "supergroup", "title": "Support group"}
    chat: dict[str, Any] = {"id": chat_id, "type": "private"}
    for key in ("first_name", "last_name", "username"):
        if user and key in user:
            chat[key] = user[key]
    return chat


def tg_message(
    chat_id: int,
    *,
    message_id: int = 1,
    user_id: int | None = None,
    date: int | None = None,
    user: dict[str, Any] | None = None,
    **content: Any,
) -> dict[str, Any]:
    """A Message object; `content` is the rest (text=..., photo=[...], caption=...)."""
    sender = user or tg_user(user_id if user_id is not None else abs(chat_id))
    return {
        "message_id": message_id,
        "from": sender,
        "chat": tg_chat(chat_id, sender),
        "date": int(time.time()) if date is None else date,
        **content,
    }


def _update(update_id: int, key: str, message: dict[str, Any]) -> dict[str, Any]:
    return {"update_id": update_id, key: message}


def tg_text_update(
    update_id: int, chat_id: int, text: str, user_id: int | None = None, **kwargs: Any
) -> dict[str, Any]:
    """A text message (a command if `text` starts with "/", with its bot_command entity)."""
    content: dict[str, Any] = {"text": text}
    if text.startswith("/"):
        command = text.split(" ", 1)[0]
        content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return _update(update_id, "message", tg_message(chat_id, user_id=user_id, **kwargs, **content))


def tg_photo_update(
    update_id: int, chat_id: int, caption: str | None = None, **kwargs: Any
) -> dict[str, Any]:
    """A photo in Telegram's three sizes, smallest first, as Telegram sends it."""
    sizes = []
    for width, height in ((90, 67), (320, 240), (1280, 960)):
        sizes.append({**_file("photo"), "width": width, "height": height, "file_size": width * 40})
    content: dict[str, Any] = {"photo": sizes}
    if caption is not None:
        content["caption"] = caption
    return _update(update_id, "message", tg_message(chat_id, **kwargs, **content))


def tg_voice_update(
    update_id: int, chat_id: int, duration: int = 3, **kwargs: Any
) -> dict[str, Any]:
    voice = {**_file("voice"), "duration": duration, "mime_type": "audio/ogg", "file_size": 9000}
    return _update(update_id, "message", tg_message(chat_id, voice=voice, **kwargs))


def tg_document_update(
    update_id: int,
    chat_id: int,
    file_name: str = "invoice.pdf",
    caption: str | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    document = {**_file("doc"), "file_name": file_name, "mime_type": "application/pdf"}
    content: dict[str, Any] = {"document": document}
    if caption is not None:
        content["caption"] = caption
    return _update(update_id, "message", tg_message(chat_id, **kwargs, **content))


def tg_sticker_update(update_id: int, chat_id: int, **kwargs: Any) -> dict[str, Any]:
    sticker = {
        **_file("sticker"),
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "emoji": "👍",
    }
    return _update(update_id, "message", tg_message(chat_id, sticker=sticker, **kwargs))


def tg_location_update(
    update_id: int, chat_id: int, latitude: float = 52.52, longitude: float = 13.405, **kwargs: Any
) -> dict[str, Any]:
    location = {"latitude": latitude, "longitude": longitude}
    return _update(update_id, "message", tg_message(chat_id, location=location, **kwargs))


def tg_contact_update(
    update_id: int,
    chat_id: int,
    phone_number: str = "+15555550123",
    contact_user_id: int | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    contact: dict[str, Any] = {"phone_number": phone_number, "first_name": "Ada"}
    if contact_user_id is not None:
        contact["user_id"] = contact_user_id
    return _update(update_id, "message", tg_message(chat_id, contact=contact, **kwargs))


def tg_edited_update(
    update_id: int, chat_id: int, text: str, message_id: int = 1, **kwargs: Any
) -> dict[str, Any]:
    now = int(time.time())
    message = tg_message(
        chat_id, message_id=message_id, date=now - 60, text=text, edit_date=now, **kwargs
    )
    return _update(update_id, "edited_message", message)


def tg_callback_update(
    update_id: int,
    chat_id: int,
    data: str,
    user_id: int | None = None,
    message_id: int = 1,
    bot_id: int = 123456,
) -> dict[str, Any]:
    """A button press on a message the bot sent earlier."""
    user = tg_user(user_id if user_id is not None else abs(chat_id))
    bot = {"id": bot_id, "is_bot": True, "first_name": "Helpdesk Test Bot"}
    bot["username"] = "helpdesk_test_bot"
    message = tg_message(chat_id, message_id=message_id, user=bot, text="Did this help?")
    message["chat"] = tg_chat(chat_id, user)
    callback = {
        "id": f"cb-{update_id}",
        "from": user,
        "message": message,
        "chat_instance": f"ci-{chat_id}",
        "data": data,
    }
    return {"update_id": update_id, "callback_query": callback}
