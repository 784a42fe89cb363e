"""A send's last check (`ready`) runs once the rate-limit wait is over, not before it.

What the check looks at (a campaign cancelled, consent withdrawn) can change while a
message waits for its slot; a refusal then sends nothing and is not a transient failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from helpdesk.channels.delivery import TelegramOutlet, Undeliverable
from helpdesk.channels.telegram import RateLimiter, TelegramClient
from helpdesk.store.outbox import Queued
from helpdesk.store.types import utcnow
from tests.fakes.telegram_server import FakeTelegram


class HeldSleep:
    """The limiter's sleep, held until released: a rate-limit wait the test controls."""

    def __init__(self) -> None:
        self.waiting = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, _delay: float) -> None:
        self.waiting.set()
        await self.release.wait()


@pytest.fixture
def held() -> HeldSleep:
    return HeldSleep()


@pytest.fixture
async def outlet(fake_tg: FakeTelegram, held: HeldSleep) -> AsyncIterator[TelegramOutlet]:
    # One message per second bot-wide, no burst: the second send waits for a slot.
    limiter = RateLimiter(1.0, 0, burst=1, sleep=held)
    client = TelegramClient(fake_tg.token, fake_tg.base_url, limiter=limiter)
    yield TelegramOutlet(client)
    await client.close()


def row(chat_id: int, body: str) -> Queued:
    return Queued(
        id=chat_id,
        channel="telegram",
        chat_id=chat_id,
        body=body,
        reply_markup=None,
        dedup_key=f"test:{chat_id}:0",
        attempts=0,
        next_attempt_at=utcnow(),
    )


async def test_a_row_refused_while_it_waited_for_its_slot_is_not_sent(
    fake_tg: FakeTelegram, outlet: TelegramOutlet, held: HeldSleep
) -> None:
    allowed = {"first": True, "second": True}
    checked: list[str] = []

    def ready(name: str) -> Callable[[], Awaitable[None]]:
        async def check() -> None:
            checked.append(name)
            if not allowed[name]:
                raise Undeliverable(f"{name} is no longer wanted")

        return check

    assert await outlet.send(row(601, "first"), ready=ready("first")) == 1
    second = asyncio.create_task(outlet.send(row(602, "second"), ready=ready("second")))
    await asyncio.wait_for(held.waiting.wait(), 5)
    assert checked == ["first"]  # the second waits for its slot, not checked yet

    allowed["second"] = False  # e.g. the campaign is cancelled meanwhile
    held.release.set()
    with pytest.raises(Undeliverable, match="second is no longer wanted"):
        await second
    assert checked == ["first", "second"]
    assert [m["text"] for m in fake_tg.sent_messages()] == ["first"]


async def test_without_a_check_a_row_goes_out_after_its_wait(
    fake_tg: FakeTelegram, outlet: TelegramOutlet, held: HeldSleep
) -> None:
    held.release.set()
    await outlet.send(row(601, "a reply"))
    await outlet.send(row(602, "another reply"))
    assert held.waiting.is_set()
    assert [m["text"] for m in fake_tg.sent_messages()] == ["a reply", "another reply"]
