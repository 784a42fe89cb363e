"""The Telegram channel: parse updates, render answers, send them at Telegram's pace."""

from helpdesk.channels.telegram.client import (
    TelegramClient,
    TelegramRejected,
    TelegramRetryLater,
)
from helpdesk.channels.telegram.parse import (
    ALLOWED_UPDATES,
    CHANNEL,
    InvalidUpdate,
    UnsupportedUpdate,
    parse_update,
)
from helpdesk.channels.telegram.polling import poll_updates
from helpdesk.channels.telegram.ratelimit import RateLimiter
from helpdesk.channels.telegram.render import (
    TELEGRAM_TEXT_LIMIT,
    html_to_plain_text,
    markdown_to_telegram_html,
    split_message,
    visible_length,
)
from helpdesk.channels.telegram.webhook import SECRET_HEADER, secret_matches

__all__ = [
    "ALLOWED_UPDATES",
    "CHANNEL",
    "SECRET_HEADER",
    "TELEGRAM_TEXT_LIMIT",
    "InvalidUpdate",
    "RateLimiter",
    "TelegramClient",
    "TelegramRejected",
    "TelegramRetryLater",
    "UnsupportedUpdate",
    "html_to_plain_text",
    "markdown_to_telegram_html",
    "parse_update",
    "poll_updates",
    "secret_matches",
    "split_message",
    "visible_length",
]
