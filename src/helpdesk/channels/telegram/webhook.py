"""Checking that a webhook request really comes from Telegram."""

from __future__ import annotations

import hmac

# Telegram echoes setWebhook's secret_token in this header on every webhook call.
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def secret_matches(received: str | None, expected: str) -> bool:
    """Constant-time comparison, so the secret cannot be guessed byte by byte."""
    if received is None:
        return False
    return hmac.compare_digest(received.encode(), expected.encode())
