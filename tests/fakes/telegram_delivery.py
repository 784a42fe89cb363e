"""How the fake Telegram hands updates to the bot: the getUpdates long poll, or a webhook.

Telegram allows one at a time (getUpdates is refused while a webhook is set) and one
poller at a time (a newer getUpdates ends an older one); the fake keeps both rules,
so a bot that runs two pollers, or polls while a webhook is set, fails its tests.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from tests.fakes.http_fake import Waiters
from tests.fakes.telegram_spec import ApiError

_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class UpdateDelivery:
    def __init__(self) -> None:
        self.webhook: dict[str, Any] | None = None
        self._updates: list[dict[str, Any]] = []
        self._waiters = Waiters()
        self._poll_generation = 0
        self._closing = False

    def push(self, update: dict[str, Any]) -> None:
        """Queue an update for getUpdates (update_id assigned if missing)."""
        if "update_id" not in update:
            last = max((u["update_id"] for u in self._updates), default=0)
            update = {"update_id": last + 1, **update}
        self._updates.append(update)
        self._waiters.notify()

    @property
    def pending(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by a getUpdates with a higher offset."""
        return list(self._updates)

    def close(self) -> None:
        """Answer the long polls now, so the server can shut down without waiting them out."""
        self._closing = True
        self._waiters.notify()

    def set_webhook(self, params: dict[str, Any]) -> bool:
        url = params["url"]
        if url == "":  # Telegram: an empty URL removes the webhook
            self.webhook = None
            return True
        if not url.startswith("https://"):
            raise ApiError(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        secret = params.get("secret_token")
        if secret is not None and not _SECRET.match(secret):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook = dict(params)
        return True

    def delete_webhook(self, params: dict[str, Any]) -> bool:
        self.webhook = None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def webhook_info(self) -> dict[str, Any]:
        return {
            "url": self.webhook["url"] if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    async def get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        self._poll_generation += 1
        generation = self._poll_generation
        self._waiters.notify()
        offset = params.get("offset")
        if isinstance(offset, int) and offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif isinstance(offset, int) and offset < 0:
            self._updates = self._updates[offset:]
        limit = min(max(int(params.get("limit", 100)), 1), 100)
        timeout = max(int(params.get("timeout", 0)), 0)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._updates or self._closing:
                return [dict(u) for u in self._updates[:limit]]
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            try:
                await asyncio.wait_for(self._waiters.event.wait(), remaining)
            except TimeoutError:
                return []
