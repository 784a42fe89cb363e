"""Fixtures: the product's encoder (loaded once per run) and sessions on both engines."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.brain.embeddings import Encoder
from helpdesk.config import Settings
from helpdesk.store.db import create_engine, session_factory


@pytest.fixture(scope="session")
async def encoder() -> Encoder:
    # The same encoder the brain uses; the model itself is cached per process.
    encoder = Encoder(Settings(_env_file=None).embedding_model)
    await encoder.load()
    return encoder


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    yield session_factory(engine)
    await engine.dispose()


# The console's fixtures: the real service (webhook mode, fake Telegram) sharing one brain.
from tests.console.conftest import data_dir, shared_brain, start_console, telegram  # noqa: E402

__all__ = ["data_dir", "shared_brain", "start_console", "telegram"]
