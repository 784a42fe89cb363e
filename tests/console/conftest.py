"""Console fixtures: the real service with one embedding model shared by every test here."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpdesk.app import create_app
from helpdesk.brain import Brain, load_brain
from helpdesk.store import agents as agent_store
from tests.e2e.conftest import data_dir, telegram
from tests.e2e.service import RunningService, service_settings
from tests.fakes.telegram_server import FakeTelegram

__all__ = ["data_dir", "telegram"]

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf" value="([^"]*)"')


@pytest.fixture(scope="session")
async def shared_brain(data_dir: Path) -> AsyncIterator[Brain]:
    # Loading the encoder is most of a service's start-up; these tests only need one.
    brain = await load_brain(service_settings("sqlite+aiosqlite://", str(data_dir)))
    yield brain
    await brain.aclose()


StartConsole = Callable[..., Awaitable[RunningService]]


@pytest.fixture
async def start_console(
    data_dir: Path, telegram: FakeTelegram, shared_brain: Brain
) -> AsyncIterator[StartConsole]:
    started: list[RunningService] = []

    async def start(database_url: str, **overrides: Any) -> RunningService:
        settings = service_settings(
            database_url,
            str(data_dir),
            telegram_api_base=telegram.base_url,
            token=telegram.token,
            **overrides,
        )
        service = RunningService(settings)
        service.app = create_app(settings, shared_brain)
        started.append(await service.start())
        return service

    yield start
    for service in started:
        await service.stop()


async def add_agent(service: RunningService, email: str, name: str, *, role: str = "agent") -> int:
    async with service.runtime.sessions.begin() as session:
        agent = await agent_store.create_agent(
            session, email=email, name=name, password=PASSWORD, role=role
        )
        return agent.id


def csrf_in(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


async def log_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    form = await client.get("/console/login")
    return await client.post(
        "/console/login",
        data={"email": email, "password": password, "csrf": csrf_in(form.text)},
    )
