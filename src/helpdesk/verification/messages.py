"""What the bot says during a verification (Markdown) and the keyboards it shows.

Every failure to send a code reads the same, whatever the reason: the chat must not
tell anyone whether a number exists, is blocked or belongs to somebody.
"""

from __future__ import annotations

from typing import Any

from helpdesk.verification.phones import masked

VERIFY_BUTTON = "Verify my phone"
SHARE_BUTTON = "📱 Share my phone number"
CANCEL_BUTTON = "Cancel"

# Telegram reply keyboards (Bot API ReplyKeyboardMarkup / ReplyKeyboardRemove).
ASK_NUMBER_KEYBOARD: dict[str, Any] = {
    "keyboard": [
        [{"text": SHARE_BUTTON, "request_contact": True}],
        [{"text": CANCEL_BUTTON}],
    ],
    "one_time_keyboard": True,
    "resize_keyboard": True,
    "input_field_placeholder": "+44 7700 900123",
}
VERIFY_KEYBOARD: dict[str, Any] = {
    "keyboard": [[{"text": VERIFY_BUTTON}]],
    "one_time_keyboard": True,
    "resize_keyboard": True,
}
REMOVE_KEYBOARD: dict[str, Any] = {"remove_keyboard": True}

ASK_NUMBER = (
    "Let's verify your phone number. Tap **Share my phone number** below, or type your "
    "number with its country code (for example +44 7700 900123). I'll text you a 6-digit code."
)
INVALID_NUMBER = (
    "That doesn't look like a valid phone number. Please type it with the country code, "
    "for example +44 7700 900123, or tap **Share my phone number**."
)
LANDLINE = (
    "That looks like a landline, which can't receive text messages. Please send a mobile number."
)
NOT_YOUR_CONTACT = (
    "That contact isn't you. Please share **your own** number with the button below, or type it."
)
SEND_FAILED = (
    "Sorry, I couldn't send a code to that number. Please check it and try again in a few minutes."
)
DAILY_CAP = (
    "You've asked for the maximum number of codes for today. "
    "Please try again tomorrow, or type /human to talk to our team."
)
CHECK_UNAVAILABLE = "Sorry, I can't check codes right now. Please send it again in a minute."
EXPIRED = "That code has expired. Send /verify to get a new one."
LOCKED = "Too many wrong codes. Send /verify to start again with a new code."
CANCELLED = "Okay, I've cancelled the phone verification."
UNAVAILABLE = "Sorry, phone verification isn't available at the moment."
VERIFY_FIRST = (
    "I can help with that once I know it's you: please verify your phone number first. "
    "Tap **Verify my phone** below or send /verify."
)


def code_sent(e164: str, ttl_minutes: int) -> str:
    return (
        f"I've sent a 6-digit code to {masked(e164)}. Type it here; it expires in "
        f"{ttl_minutes} minutes. Wrong number? Just send the right one."
    )


def too_soon(wait_seconds: int) -> str:
    return (
        f"I've just sent you a code. If it hasn't arrived, you can ask for a new one "
        f"in {wait_seconds} seconds."
    )


def wrong_code(left: int) -> str:
    tries = "1 more try" if left == 1 else f"{left} more tries"
    return f"That code isn't right. You have {tries}."


def verified(e164: str) -> str:
    return f"Thanks, your phone number {masked(e164)} is verified. ✅ How can I help?"


def already_verified(e164: str) -> str:
    return (
        f"Your phone number {masked(e164)} is already verified. To change it, share or "
        "type the new number and I'll text it a code."
    )


def sms_body(code: str, company: str, ttl_minutes: int) -> str:
    # The code first: phones show it in the notification preview and offer to copy it.
    return (
        f"{code} is your {company} verification code. It expires in {ttl_minutes} minutes. "
        "Never share it: our team will never ask you for it."
    )
