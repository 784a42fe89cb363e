"""The outbox dispatcher: every pending row goes out once, in its chat's order."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.channels import delivery
from helpdesk.channels.delivery import OutboxDispatcher
from helpdesk.store import outbox
from helpdesk.store.db import Connections, autocommit_connections
from helpdesk.store.outbox import Queued


def connections(sessions: async_sessionmaker[AsyncSession]) -> Connections:
    """What the service gives the dispatcher: autocommit connections on the same engine."""
    return autocommit_connections(sessions.kw["bind"])


class Sender:
    """Records what the dispatcher sends; `first_blocks` holds the first send until released."""

    def __init__(self, *, first_blocks: bool = False) -> None:
        self.sent: list[str] = []
        self.release = asyncio.Event()
        if not first_blocks:
            self.release.set()
        self._changed = asyncio.Condition()

    async def send(self, item: Queued) -> int:
        await self.release.wait()
        async with self._changed:
            self.sent.append(item.body)
            self._changed.notify_all()
        return len(self.sent)

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(10), self._changed:
            await self._changed.wait_for(lambda: len(self.sent) >= count)


async def queue_rows(sessions: async_sessionmaker[AsyncSession], chats: int, per_chat: int) -> None:
    async with sessions.begin() as session:
        for turn in range(per_chat):
            for chat_id in range(1, chats + 1):
                await outbox.enqueue(
                    session,
                    channel="telegram",
                    chat_id=chat_id,
                    parts=[f"message {turn} to {chat_id}"],
                    dedup_prefix=f"test:{chat_id}:{turn}",
                )


async def test_a_backlog_larger_than_one_scan_goes_out_without_waiting_for_the_idle_poll(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    # After an outage thousands of rows may wait; a scan reads only the oldest ones.
    monkeypatch.setattr(delivery, "SCAN_LIMIT", 5)
    await queue_rows(sessions, chats=6, per_chat=3)
    sender = Sender()
    # An idle poll far longer than the test: only rescans on finished sends can do it.
    dispatcher = OutboxDispatcher(connections(sessions), "telegram", sender.send, idle_poll=60)
    stop = asyncio.Event()
    running = asyncio.create_task(dispatcher.run(stop))
    try:
        await sender.wait_for(18)
    finally:
        stop.set()
        await running
    sent = sender.sent
    assert len(sent) == len(set(sent)) == 18
    for chat_id in range(1, 7):
        mine = [body for body in sent if body.endswith(f" to {chat_id}")]
        assert mine == [f"message {turn} to {chat_id}" for turn in range(3)]


async def test_rows_handed_over_while_their_chat_is_sending_go_out_after_it(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    sender = Sender(first_blocks=True)
    dispatcher = OutboxDispatcher(connections(sessions), "telegram", sender.send, idle_poll=60)
    stop = asyncio.Event()
    running = asyncio.create_task(dispatcher.run(stop))
    await asyncio.sleep(0.5)  # the start-up scan is over: these rows come by hand-over only
    try:
        for turn in range(2):
            async with sessions.begin() as session:
                rows = await outbox.enqueue(
                    session,
                    channel="telegram",
                    chat_id=7,
                    parts=[f"reply {turn}"],
                    dedup_prefix=f"test:7:{turn}",
                )
            dispatcher.submit(rows)
        sender.release.set()
        await sender.wait_for(2)
    finally:
        stop.set()
        await running
    assert sender.sent == ["reply 0", "reply 1"]
