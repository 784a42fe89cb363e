"""Engine and session factory for any SQLAlchemy async URL (aiosqlite, asyncpg)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def create_engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # One connection: SQLite has a single writer anyway, and queueing in the pool is
        # far cheaper than SQLite's sleep-and-retry busy handler under many chats.
        engine = create_async_engine(
            url, connect_args={"timeout": 30}, pool_size=1, max_overflow=0, pool_timeout=60
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # No pre-ping: it costs a round trip per checkout, and every caller already retries
    # (the chat queue, the outbox loop, Telegram re-sending a webhook that got a 500).
    return create_async_engine(url, pool_size=20, max_overflow=20)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the single writer; busy_timeout makes writers queue
    # instead of failing with "database is locked" when many chats write at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


# Opens a connection: `async with connect() as connection: ...`
Connections = Callable[[], AsyncConnection]
# A transaction on a connection of its own, committed on leaving the block (engine.begin):
# for the per-message path, where the ORM session's bookkeeping buys nothing.
Transactions = Callable[[], AbstractAsyncContextManager[AsyncConnection]]


def autocommit_connections(engine: AsyncEngine) -> Connections:
    """Connections in which every statement commits on its own, for units of one statement.

    A single INSERT or UPDATE is atomic anyway; without BEGIN and COMMIT it is one round
    trip instead of three (storing each update, recording each send), and without an ORM
    session around it SQLAlchemy spends about half the CPU on it.
    """
    return engine.execution_options(isolation_level="AUTOCOMMIT").connect


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
