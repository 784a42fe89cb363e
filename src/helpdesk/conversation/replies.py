"""The bot's canned replies, in Markdown like every answer."""

from __future__ import annotations

import re

from helpdesk.domain import MessageKind


def greeting(company: str, first_name: str | None) -> str:
    hello = f"Hi {first_name}!" if first_name else "Hi!"
    return (
        f"{hello} I'm the {company} assistant. Ask me about **shipping**, **returns**, "
        "**billing** or your **account** and I'll answer from our help centre, with links.\n\n"
        "If I can't help, I'll pass you to a person from our team. Type /help for commands."
    )


HELP = (
    "Just write your question in your own words.\n\n"
    "Commands:\n"
    "- /start: what I can do\n"
    "- /help: this list\n"
    "- /human: talk to a person from our team\n"
    "- /verify: verify your phone number by SMS code\n"
    "- /notifications: our updates to you, on or off"
)

HUMAN_REQUESTED = (
    "Sure: I've asked a person from our team to take over. They'll reply here, "
    "and you'll see their answer in this chat."
)

UNKNOWN_COMMAND = "I don't know that command.\n\n" + HELP

_MEDIA_NAMES = {
    MessageKind.PHOTO: "photos",
    MessageKind.VOICE: "voice messages",
    MessageKind.AUDIO: "audio files",
    MessageKind.VIDEO: "videos",
    MessageKind.DOCUMENT: "documents",
    MessageKind.STICKER: "stickers",
    MessageKind.LOCATION: "locations",
    MessageKind.CONTACT: "contacts",
}


def media_received(kind: MessageKind) -> str:
    what = _MEDIA_NAMES.get(kind, "attachments")
    return (
        f"Thanks, I've saved it for our team. I can't read {what} myself yet, "
        "so if you have a question, please also write it as text."
    )


_GREETINGS = re.compile(
    r"^(hi|hello|hey|hiya|good (morning|afternoon|evening))( there)?[!. ]*$", re.IGNORECASE
)
_THANKS = re.compile(
    r"^(thanks|thank you|thx|ty|cheers|great|perfect|ok(ay)?)( (a lot|so much|very much))?[!. ]*$",
    re.IGNORECASE,
)


def small_talk(text: str, company: str) -> str | None:
    """Greetings and thanks get a friendly word, not a knowledge-base search (or a hand-over)."""
    text = text.strip()
    if _GREETINGS.match(text):
        return f"Hello! I'm the {company} assistant. What can I help you with today?"
    if _THANKS.match(text):
        return "You're welcome! Is there anything else I can help with?"
    return None
