"""Consent: who may get an update on which channel, and how customers change it.

The customer columns (store/models/conversations.py, migration 0003) hold the history as moments:
- `notifications_opted_out_at`: `/notifications off` in the chat. No update at all,
  on any channel, until `/notifications on` clears it.
- `sms_opted_in_at` / `sms_opted_out_at`: SMS needs an explicit opt-in (START by SMS
  or `/notifications sms on`) *after* the last opt-out (STOP by SMS or
  `/notifications sms off`), and a number the customer proved with a code.

Replies to our SMS number follow the CTIA keywords Twilio itself honours, so what we
record matches what the carrier and Twilio enforce.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})


class Keyword(StrEnum):
    STOP = "stop"
    START = "start"
    HELP = "help"


def sms_keyword(body: str) -> Keyword | None:
    """The keyword an inbound SMS is, if the whole message is one (as Twilio matches)."""
    word = body.strip().strip(".!").upper()
    if word in STOP_WORDS:
        return Keyword.STOP
    if word in START_WORDS:
        return Keyword.START
    if word in HELP_WORDS:
        return Keyword.HELP
    return None


@dataclass(frozen=True, slots=True)
class ConsentState:
    notifications_opted_out_at: datetime | None
    phone_e164: str | None
    phone_verified_at: datetime | None
    sms_opted_in_at: datetime | None
    sms_opted_out_at: datetime | None


def telegram_allowed(state: ConsentState) -> bool:
    return state.notifications_opted_out_at is None


def sms_allowed(state: ConsentState) -> bool:
    if state.notifications_opted_out_at is not None:
        return False
    if not state.phone_e164 or state.phone_verified_at is None:
        return False
    if state.sms_opted_in_at is None:
        return False
    return state.sms_opted_out_at is None or state.sms_opted_out_at < state.sms_opted_in_at


def allowed(channel: str, state: ConsentState) -> bool:
    return sms_allowed(state) if channel == "sms" else telegram_allowed(state)


# ---- /notifications in the chat -----------------------------------------------------------


class Change(StrEnum):
    SHOW = "show"
    ALL_ON = "all_on"
    ALL_OFF = "all_off"
    SMS_ON = "sms_on"
    SMS_OFF = "sms_off"


_ON = {"on", "yes", "start", "enable"}
_OFF = {"off", "no", "stop", "disable"}


def notifications_change(text: str) -> Change | None:
    """What `/notifications [sms] on|off` asks for; None when it is not that command."""
    words = text.split()
    if not words or words[0].split("@")[0].lower() != "/notifications":
        return None
    args = [word.lower() for word in words[1:]]
    sms = bool(args) and args[0] == "sms"
    if sms:
        args = args[1:]
    if not args:
        return Change.SHOW
    if args[0] in _ON:
        return Change.SMS_ON if sms else Change.ALL_ON
    if args[0] in _OFF:
        return Change.SMS_OFF if sms else Change.ALL_OFF
    return Change.SHOW


def notifications_text(state: ConsentState, change: Change, *, sms_refused: bool = False) -> str:
    """The chat's answer: what changed, where things stand now, how to change them."""
    lines: list[str] = []
    if change is Change.ALL_OFF:
        lines.append("Done: you will get no more updates from us, by Telegram or by SMS.")
    elif change is Change.ALL_ON:
        lines.append("Done: you will get our important updates here again.")
    elif change is Change.SMS_OFF:
        lines.append("Done: no more updates by SMS.")
    elif change is Change.SMS_ON and sms_refused:
        lines.append("SMS updates need a verified phone number first: send /verify.")
    elif change is Change.SMS_ON:
        lines.append(f"Done: updates will also come by SMS to {state.phone_e164}.")
    on = telegram_allowed(state)
    lines.append(f"Updates in this chat: **{'on' if on else 'off'}**.")
    lines.append(f"Updates by SMS: **{'on' if sms_allowed(state) else 'off'}**.")
    lines.append(
        "Turn them off with /notifications off (or on again with /notifications on); "
        "SMS only: /notifications sms on or /notifications sms off. "
        "By SMS you can also reply STOP or START."
    )
    return "\n".join(lines)
