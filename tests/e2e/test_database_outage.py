"""The database goes away mid-traffic: nothing is acknowledged that was not stored."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from helpdesk.store.models import RawUpdate
from tests.conftest import POSTGRES_URL
from tests.e2e.conftest import StartService
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.telegram_updates import tg_text_update


async def _set_connections(database: str, *, allowed: bool) -> None:
    """Like a restart: refuse new connections (or accept them again), drop the open ones."""
    admin = make_url(POSTGRES_URL).set(drivername="postgresql")
    connection = await asyncpg.connect(admin.render_as_string(hide_password=False))
    try:
        await connection.execute(
            f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS {str(allowed).lower()}'
        )
        if not allowed:
            await connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                database,
            )
    finally:
        await connection.close()


async def test_an_update_arriving_while_the_database_is_down_is_refused_then_answered_once(
    database_url: str, start_service: StartService, telegram: FakeTelegram
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("an SQLite file cannot go down under a running service")
    database = make_url(database_url).database
    assert database is not None
    service = await start_service()
    assert (await service.send_update(tg_text_update(1, 801, "hello"))).status_code == 200
    await telegram.wait_for_messages(1, chat_id=801)
    await service.idle()

    question = tg_text_update(2, 801, "How long does shipping take?")
    await _set_connections(database, allowed=False)
    try:
        refused = await service.send_update(question)
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "1"
        assert "deliver it again" in refused.json()["error"]
    finally:
        await _set_connections(database, allowed=True)

    # Telegram delivers the update again until it gets a 200.
    for _ in range(50):
        if (await service.send_update(question)).status_code == 200:
            break
        await asyncio.sleep(0.2)
    else:
        pytest.fail("the update was never accepted after the database came back")
    replies = await telegram.wait_for_messages(2, chat_id=801)
    assert "working day" in replies[1]["text"]
    await service.idle()
    await asyncio.sleep(0.3)
    assert len(telegram.sent_messages(chat_id=801)) == 2
    async with service.runtime.sessions() as session:
        stored = await session.scalar(select(func.count()).select_from(RawUpdate))
    assert stored == 2
