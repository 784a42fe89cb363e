"""Login rate limits and throttled "last seen" stamps, for the API and the console.

Both live in this process's memory: with several service processes each counts on
its own (so an attacker gets up to N times the attempts), and a restart forgets the
counts. That is acceptable for a login form in front of argon2; a shared store
(PostgreSQL, Redis) would be the next step for a multi-process deployment.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request

from helpdesk.config import Settings
from helpdesk.store import agents as agent_store

Clock = Callable[[], float]
# Beyond this many tracked keys, expired ones are swept (bounded memory under a spray).
SWEEP_ABOVE = 10_000


class LoginLimiter:
    """At most `per_email` failed logins per email and `per_ip` per client address in
    any `window` seconds; then 429 until the oldest counted failure is out of the window.

    An attempt counts as a failure from the moment it starts (`attempt`) until it
    succeeds: otherwise a burst of parallel guesses would all pass the check while the
    first ones are still being verified.
    """

    def __init__(
        self, *, per_email: int, per_ip: int, window: float, clock: Clock = time.monotonic
    ) -> None:
        self._limits = {"email": per_email, "ip": per_ip}
        self._window = window
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self._window:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def retry_after(self, email: str, ip: str) -> int | None:
        """Seconds until this email and address may try again, or None if they may now."""
        now = self._clock()
        waits = []
        for key in (("email", _normal(email)), ("ip", ip)):
            times = self._recent(key, now)
            limit = self._limits[key[0]]
            if len(times) >= limit:
                # Free again when enough of the counted failures have aged out.
                waits.append(times[len(times) - limit] + self._window - now)
        return max(1, math.ceil(max(waits))) if waits else None

    def attempt(self, email: str, ip: str) -> None:
        now = self._clock()
        if len(self._failures) > SWEEP_ABOVE:
            for key in list(self._failures):
                self._recent(key, now)
        for key in (("email", _normal(email)), ("ip", ip)):
            self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, email: str, ip: str) -> None:
        """The right password: forget this email's failures; the address keeps the others."""
        self._failures.pop(("email", _normal(email)), None)
        times = self._failures.get(("ip", ip))
        if times:
            times.pop()  # this attempt's own mark


def client_ip(request: Request) -> str:
    # Behind a proxy, uvicorn's --forwarded-allow-ips makes this the real client.
    return request.client.host if request.client else "unknown"


def _normal(email: str) -> str:
    return email.strip().lower()


class SeenTracker:
    """Writes an agent's `last_seen_at` at most once per `interval` per process."""

    def __init__(self, interval: float, clock: Clock = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._written: dict[int, float] = {}

    def due(self, agent_id: int) -> bool:
        now = self._clock()
        last = self._written.get(agent_id)
        if last is not None and now - last < self._interval:
            return False
        self._written[agent_id] = now
        return True

    async def seen(self, sessions: async_sessionmaker[AsyncSession], agent_id: int) -> None:
        if self.due(agent_id):
            async with sessions.begin() as session:
                await agent_store.touch_last_seen(session, agent_id)


@dataclass
class Guards:
    logins: LoginLimiter
    presence: SeenTracker


def guards_for(state: object, settings: Settings) -> Guards:
    """The app's guards (made on first use and kept on `app.state`)."""
    found: Guards | None = getattr(state, "auth_guards", None)
    if found is None:
        found = Guards(
            LoginLimiter(
                per_email=settings.login_max_failures_per_email,
                per_ip=settings.login_max_failures_per_ip,
                window=settings.login_failure_window_seconds,
            ),
            SeenTracker(settings.agent_seen_interval_seconds),
        )
        setattr(state, "auth_guards", found)  # noqa: B010 - Starlette's State is dynamic
    return found
