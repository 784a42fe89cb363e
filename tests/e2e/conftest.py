"""Fixtures for end-to-end tests: the service itself, with a brain of its own.

The fake Telegram and LLM servers (`telegram`, `llm`) and `data_dir` are in tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.service import RunningService, service_settings
from tests.fakes.telegram_server import FakeTelegram

StartService = Callable[..., Awaitable[RunningService]]


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
