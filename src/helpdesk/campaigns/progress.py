"""A campaign's progress: its recipients counted by channel and status.

`cancelled` recipients were still open (pending, or queued in the Telegram outbox)
when an admin cancelled the campaign; they never get it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

PENDING, QUEUED, SENT, DELIVERED, FAILED, SKIPPED, CANCELLED = (
    "pending",
    "queued",
    "sent",
    "delivered",
    "failed",
    "skipped",
    "cancelled",
)
OPEN = (PENDING, QUEUED)
ALL = (PENDING, QUEUED, SENT, DELIVERED, FAILED, SKIPPED, CANCELLED)
# A campaign is `sending` until no recipient is open (`done`), or an admin cancels it
# (`cancelled`, like the recipients it had not handed to a channel yet).
SENDING, DONE = "sending", "done"


@dataclass
class Progress:
    campaign_id: int
    segment: str
    channel: str
    text: str
    link: str | None
    created_by: str
    created_at: datetime
    status: str
    finished_at: datetime | None
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # channel -> status -> n

    def _sum(self, statuses: Iterable[str], channel: str | None = None) -> int:
        wanted = set(statuses)
        return sum(
            n
            for ch, by_status in self.counts.items()
            if channel is None or ch == channel
            for status, n in by_status.items()
            if status in wanted
        )

    def sent(self, channel: str | None = None) -> int:
        return self._sum((SENT, DELIVERED), channel)

    def delivered(self, channel: str | None = None) -> int:
        return self._sum((DELIVERED,), channel)

    def failed(self, channel: str | None = None) -> int:
        return self._sum((FAILED,), channel)

    def pending(self, channel: str | None = None) -> int:
        return self._sum(OPEN, channel)

    def skipped(self, channel: str | None = None) -> int:
        return self._sum((SKIPPED,), channel)

    def cancelled(self, channel: str | None = None) -> int:
        return self._sum((CANCELLED,), channel)

    def total(self, channel: str | None = None) -> int:
        return self._sum(ALL, channel)

    def as_dict(self) -> dict[str, Any]:
        per_channel = {
            ch: {
                "sent": self.sent(ch),
                "delivered": self.delivered(ch),
                "failed": self.failed(ch),
                "pending": self.pending(ch),
                "skipped": self.skipped(ch),
                "cancelled": self.cancelled(ch),
                "total": self.total(ch),
            }
            for ch in sorted(self.counts)
        }
        return {
            "id": self.campaign_id,
            "status": self.status,
            "sent": self.sent(),
            "delivered": self.delivered(),
            "failed": self.failed(),
            "pending": self.pending(),
            "skipped": self.skipped(),
            "cancelled": self.cancelled(),
            "total": self.total(),
            "channels": per_channel,
        }
