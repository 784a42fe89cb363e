"""Fixtures for end-to-end tests: fake Telegram and LLM servers and the service itself."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.service import RunningService, service_settings
from tests.fakes.llm_server import FakeLLM
from tests.fakes.telegram_server import FakeTelegram


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake
    # Whatever a test did, every request we sent must be one Telegram accepts.
    assert fake.spec_violations == []


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLM]:
    async with FakeLLM() as fake:
        yield fake


StartService = Callable[..., Awaitable[RunningService]]


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared by every service in the run: the knowledge index is built once."""
    return tmp_path_factory.mktemp("var")


@pytest.fixture
async def start_service(
    database_url: str, data_dir: Path, telegram: FakeTelegram
) -> AsyncIterator[StartService]:
    """Start the service (webhook mode, offline brain unless llm_base_url is given)."""
    started: list[RunningService] = []

    async def start(**overrides: Any) -> RunningService:
        settings = service_settings(
            database_url,
            str(data_dir),
            telegram_api_base=telegram.base_url,
            token=telegram.token,
            **overrides,
        )
        service = await RunningService(settings).start()
        started.append(service)
        return service

    yield start
    for service in started:
        if service.base_url:
            await service.stop()
