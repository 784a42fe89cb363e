"""Every update kind the bot receives becomes the right IncomingMessage; junk is refused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from helpdesk.channels.telegram import InvalidUpdate, UnsupportedUpdate, parse_update
from helpdesk.domain import MessageKind
from tests.fakes.telegram_updates import (
    tg_callback_update,
    tg_contact_update,
    tg_document_update,
    tg_edited_update,
    tg_location_update,
    tg_message,
    tg_photo_update,
    tg_sticker_update,
    tg_text_update,
    tg_voice_update,
)


def test_text_message_carries_the_customer_and_the_time() -> None:
    update = tg_text_update(10, 501, "Where is my parcel?", date=1_700_000_000)
    message = parse_update(update)
    assert message.channel == "telegram"
    assert (message.update_id, message.chat_id, message.user_id) == (10, 501, 501)
    assert message.kind is MessageKind.TEXT
    assert message.text == "Where is my parcel?"
    assert message.message_id == 1
    assert (message.username, message.first_name, message.last_name) == ("ada", "Ada", "Lovelace")
    assert message.language_code == "en"
    assert message.sent_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert message.sent_at.tzinfo is not None and message.sent_at.utcoffset().total_seconds() == 0


def test_command_is_recognised_and_the_bot_name_dropped() -> None:
    message = parse_update(tg_text_update(1, -100, "/Start@helpdesk_bot order 42", user_id=7))
    assert message.kind is MessageKind.COMMAND
    assert message.extra["command"] == "/start"
    assert message.extra["args"] == "order 42"
    assert (message.chat_id, message.user_id) == (-100, 7)
    assert message.extra["chat_type"] == "supergroup"


def test_photo_keeps_the_largest_size_and_the_caption() -> None:
    update = tg_photo_update(2, 501, caption="my broken mug")
    largest = update["message"]["photo"][-1]
    message = parse_update(update)
    assert message.kind is MessageKind.PHOTO
    assert message.file_id == largest["file_id"]
    assert message.caption == "my broken mug"
    assert message.text is None
    assert message.is_media


@pytest.mark.parametrize(
    ("update", "kind"),
    [
        (tg_voice_update(3, 501), MessageKind.VOICE),
        (tg_document_update(4, 501), MessageKind.DOCUMENT),
        (tg_sticker_update(5, 501), MessageKind.STICKER),
    ],
)
def test_files_carry_their_file_id(update: dict[str, Any], kind: MessageKind) -> None:
    message = parse_update(update)
    assert message.kind is kind
    assert message.file_id is not None and message.file_id.endswith(tuple("0123456789"))


def test_audio_and_video() -> None:
    audio = {"file_id": "a1", "file_unique_id": "ua1", "duration": 30}
    video = {"file_id": "v1", "file_unique_id": "uv1", "width": 1, "height": 1, "duration": 3}
    contents: list[tuple[dict[str, Any], MessageKind]] = [
        ({"audio": audio}, MessageKind.AUDIO),
        ({"video": video}, MessageKind.VIDEO),
    ]
    for content, kind in contents:
        message = parse_update({"update_id": 6, "message": tg_message(501, **content)})
        assert message.kind == kind
        assert message.extra["duration"] in (30, 3)


def test_location_and_contact_put_their_details_in_extra() -> None:
    location = parse_update(tg_location_update(7, 501, latitude=48.85, longitude=2.35))
    assert location.kind is MessageKind.LOCATION
    assert location.extra == {"latitude": 48.85, "longitude": 2.35}

    contact = parse_update(tg_contact_update(8, 501, "+4915112345678", contact_user_id=501))
    assert contact.kind is MessageKind.CONTACT
    assert contact.extra["phone_number"] == "+4915112345678"
    assert contact.extra["user_id"] == 501


def test_edited_message_is_its_own_kind_with_the_edit_time() -> None:
    update = tg_edited_update(9, 501, "actually, order 43", message_id=5)
    message = parse_update(update)
    assert message.kind is MessageKind.EDITED
    assert message.text == "actually, order 43"
    assert message.message_id == 5
    assert message.extra["edited_kind"] == "text"
    assert message.sent_at.timestamp() == update["edited_message"]["edit_date"]


def test_callback_answers_in_the_chat_of_the_button() -> None:
    message = parse_update(tg_callback_update(11, 501, "helpful:yes", message_id=3))
    assert message.kind is MessageKind.CALLBACK
    assert message.chat_id == 501
    assert message.user_id == 501
    assert message.message_id == 3
    assert message.extra == {"data": "helpful:yes", "callback_query_id": "cb-11"}


def test_other_updates_with_a_chat_are_recorded_as_other() -> None:
    post = {"message_id": 1, "date": 1_700_000_000, "chat": {"id": -1001, "type": "channel"}}
    message = parse_update({"update_id": 12, "channel_post": post})
    assert message.kind is MessageKind.OTHER
    assert message.chat_id == -1001
    assert message.extra["update_type"] == "channel_post"

    service = parse_update(
        {"update_id": 13, "message": tg_message(501, dice={"emoji": "🎲", "value": 3})}
    )
    assert service.kind is MessageKind.OTHER


def test_updates_without_a_chat_are_unsupported() -> None:
    inline = {
        "id": "q1",
        "from": {"id": 5, "is_bot": False, "first_name": "A"},
        "query": "x",
        "offset": "",
    }
    with pytest.raises(UnsupportedUpdate, match="concerns no chat"):
        parse_update({"update_id": 14, "inline_query": inline})
    with pytest.raises(UnsupportedUpdate):
        parse_update({"update_id": 15})
    callback = tg_callback_update(16, 501, "x")
    del callback["callback_query"]["message"]
    callback["callback_query"]["inline_message_id"] = "im1"
    with pytest.raises(InvalidUpdate, match="no message"):
        parse_update(callback)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ([1, 2], "JSON object"),
        ("{}", "JSON object"),
        ({"message": {}}, "update_id"),
        ({"update_id": "5", "message": {}}, "update_id"),
        ({"update_id": True}, "update_id"),
        ({"update_id": 1, "message": {"message_id": 1}}, "malformed"),
        (
            {"update_id": 1, "message": tg_message(5) | {"chat": {"id": "abc", "type": "private"}}},
            "chat",
        ),
        ({"update_id": 1, "message": tg_message(5) | {"date": "yesterday"}}, "date"),
    ],
)
def test_malformed_payloads_are_refused_with_a_reason(payload: Any, reason: str) -> None:
    with pytest.raises(InvalidUpdate, match=reason):
        parse_update(payload)
