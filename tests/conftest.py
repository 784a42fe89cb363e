"""Shared fixtures: a database on SQLite and on PostgreSQL, fakes, and the running service.

The benchmarks import `fresh_postgres_database` from here: what only fixtures need is
imported inside them, so that a benchmark does not load the service's modules.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from helpdesk.store.migrate import upgrade_async

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from helpdesk.brain import Brain
    from tests.e2e.service import RunningService
    from tests.fakes.llm_server import FakeLLM
    from tests.fakes.sendgrid_server import FakeSendGrid
    from tests.fakes.telegram_server import FakeTelegram
    from tests.fakes.twilio_server import FakeTwilio

POSTGRES_URL = os.environ.get(
    "HELPDESK_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A freshly migrated database; every test using it runs on both engines."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'helpdesk.db'}"
        await upgrade_async(url)
        yield url
        return
    async with fresh_postgres_database() as url:
        await upgrade_async(url)
        yield url


class fresh_postgres_database:
    """Create a throwaway PostgreSQL database, drop it afterwards."""

    def __init__(self) -> None:
        self.name = f"helpdesk_test_{uuid.uuid4().hex[:12]}"
        server = make_url(POSTGRES_URL)
        self._admin_dsn = server.set(drivername="postgresql").render_as_string(hide_password=False)
        self.url = server.set(database=self.name).render_as_string(hide_password=False)

    async def __aenter__(self) -> str:
        connection = await asyncpg.connect(self._admin_dsn)
        try:
            await connection.execute(f'CREATE DATABASE "{self.name}"')
        finally:
            await connection.close()
        return self.url

    async def __aexit__(self, *_exc: object) -> None:
        connection = await asyncpg.connect(self._admin_dsn)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            await connection.close()


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the test's database (both engines)."""
    from helpdesk.store.db import create_engine, session_factory

    engine = create_engine(database_url)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    from tests.fakes.telegram_server import FakeTelegram

    async with FakeTelegram() as fake:
        yield fake
    # Whatever a test did, every request we sent must be one Telegram accepts.
    assert fake.spec_violations == []


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLM]:
    from tests.fakes.llm_server import FakeLLM

    async with FakeLLM() as fake:
        yield fake


@pytest.fixture
async def fake_twilio() -> AsyncIterator[FakeTwilio]:
    from tests.fakes.twilio_server import FakeTwilio

    async with FakeTwilio() as fake:
        yield fake
    # Whatever a test provoked, every request we sent must be one Twilio accepts.
    assert fake.spec_violations == []


@pytest.fixture
async def fake_sendgrid() -> AsyncIterator[FakeSendGrid]:
    from tests.fakes.sendgrid_server import FakeSendGrid

    async with FakeSendGrid() as fake:
        yield fake
    assert fake.spec_violations == []


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared by every service in the run: the knowledge index is built once."""
    return tmp_path_factory.mktemp("var")


@pytest.fixture(scope="session")
async def shared_brain(data_dir: Path) -> AsyncIterator[Brain]:
    """The offline brain over the sample knowledge base, loaded once per run."""
    from helpdesk.brain import load_brain
    from tests.e2e.service import service_settings

    # Loading the encoder is most of a service's start-up; most tests only need one.
    brain = await load_brain(service_settings("sqlite+aiosqlite://", str(data_dir)))
    yield brain
    await brain.aclose()


StartOnSharedBrain = Callable[..., Awaitable["RunningService"]]


@pytest.fixture
async def start_on_shared_brain(
    data_dir: Path, telegram: FakeTelegram, shared_brain: Brain
) -> AsyncIterator[StartOnSharedBrain]:
    """`await start(database_url, **settings)`: the real service in webhook mode with the
    fake Telegram and the shared brain (`brain=` another one, `data_dir=` another dir);
    every service started is stopped after the test."""
    from helpdesk.app import create_app
    from tests.e2e.service import RunningService, service_settings

    started: list[RunningService] = []

    async def start(
        database_url: str,
        *,
        brain: Brain | None = None,
        data_dir: Path = data_dir,
        **overrides: Any,
    ) -> RunningService:
        settings = service_settings(
            database_url,
            str(data_dir),
            telegram_api_base=telegram.base_url,
            token=telegram.token,
            **overrides,
        )
        service = RunningService(settings)
        service.app = create_app(settings, brain or shared_brain)
        started.append(await service.start())
        return service

    yield start
    for service in started:
        await service.stop()
