"""Shared fixtures: a database on SQLite and on PostgreSQL, fakes, and the running service."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from helpdesk.store.migrate import upgrade_async

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
