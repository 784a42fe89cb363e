"""The JSON API over real HTTP: the service with fake Telegram (and LLM), agents, SSE."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from argon2 import PasswordHasher

from helpdesk.store.agents import issue_token
from helpdesk.store.models import Agent
from helpdesk.store.types import utcnow
from tests.e2e.conftest import StartService, start_service  # noqa: F401
from tests.e2e.service import RunningService
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.telegram_updates import tg_text_update

PASSWORD = "correct horse battery"


@functools.cache
def password_hash() -> str:
    # Hashing costs ~0.3 s here (argon2): once per run, not once per agent.
    return PasswordHasher().hash(PASSWORD)


async def add_agent(service: RunningService, email: str, *, role: str = "agent") -> int:
    """An agent whose password is PASSWORD."""
    async with service.runtime.sessions.begin() as session:
        agent = Agent(
            email=email,
            name=email.split("@")[0].title(),
            role=role,
            password_hash=password_hash(),
            available=True,
            active=True,
            created_at=utcnow(),
        )
        session.add(agent)
        await session.flush()
        return agent.id


async def signed_in(service: RunningService, email: str, *, role: str = "agent") -> Api:
    """A new agent with a token, without the cost of a login (the auth tests log in)."""
    agent_id = await add_agent(service, email, role=role)
    async with service.runtime.sessions.begin() as session:
        token = await issue_token(session, agent_id)
    return Api(service, token, agent_id)


class Api:
    """A client of /api with (or without) an agent's bearer token."""

    def __init__(self, service: RunningService, token: str | None = None, agent_id: int = 0):
        self.service = service
        self.token = token
        self.agent_id = agent_id

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def url(self, path: str) -> str:
        return f"{self.service.base_url}/api{path}"

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.service.http.get(self.url(path), params=params, headers=self.headers)

    async def post(self, path: str, body: Any = None) -> httpx.Response:
        return await self.service.http.post(self.url(path), json=body, headers=self.headers)

    async def login(self, email: str, password: str = PASSWORD) -> Api:
        response = await self.service.http.post(
            self.url("/auth/token"), json={"email": email, "password": password}
        )
        assert response.status_code == 200, response.text
        api = Api(self.service, response.json()["access_token"])
        api.agent_id = (await api.get("/me")).json()["id"]
        return api

    def events(self) -> EventStream:
        return EventStream(self)


@dataclass
class Team:
    admin: Api
    alice: Api
    bob: Api


async def team(service: RunningService) -> Team:
    """An admin and two agents, signed in."""
    return Team(
        await signed_in(service, "admin@example.com", role="admin"),
        await signed_in(service, "alice@example.com"),
        await signed_in(service, "bob@example.com"),
    )


class EventStream:
    """`GET /api/events` read line by line in the background; entered once "ready"."""

    def __init__(self, api: Api) -> None:
        self._api = api
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.seen: list[dict[str, Any]] = []
        self.comments: list[str] = []
        self.ended = asyncio.Event()
        self._stack = contextlib.AsyncExitStack()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> EventStream:
        self.response = await self._stack.enter_async_context(
            self._api.service.http.stream(
                "GET", self._api.url("/events"), headers=self._api.headers
            )
        )
        assert self.response.status_code == 200
        assert self.response.headers["content-type"].startswith("text/event-stream")
        self._task = asyncio.create_task(self._read())
        await self.next(lambda event: event["type"] == "ready")
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._stack.aclose()

    async def _read(self) -> None:
        try:
            async for line in self.response.aiter_lines():
                if line.startswith("data: "):
                    event = json.loads(line.removeprefix("data: "))
                    self.seen.append(event)
                    self.events.put_nowait(event)
                elif line.startswith(":"):
                    self.comments.append(line)
        except httpx.HTTPError:
            pass
        finally:
            self.ended.set()

    async def next(
        self, match: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        """The next event that matches (skipping others)."""
        async with asyncio.timeout(timeout):
            while not match(event := await self.events.get()):
                pass
        return event


async def say(
    service: RunningService,
    tg: FakeTelegram,
    update_id: int,
    chat_id: int,
    text: str,
    *,
    replies: int | None = 1,
) -> list[dict[str, Any]]:
    """The customer writes; wait for the bot's reply (`replies=None`: for no reply)."""
    before = len(tg.sent_messages(chat_id))
    response = await service.send_update(tg_text_update(update_id, chat_id, text))
    assert response.status_code == 200
    if replies is None:
        await service.idle()
        return []
    found = await tg.wait_for_messages(before + replies, chat_id=chat_id)
    await service.idle()
    return found[before:]


async def conversation_of(api: Api, chat_id: int, **filters: Any) -> dict[str, Any]:
    response = await api.get("/conversations", **filters)
    assert response.status_code == 200, response.text
    [found] = [c for c in response.json() if c["chat_id"] == chat_id]
    return found


__all__ = ["StartService"]
