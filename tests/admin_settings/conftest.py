"""Settings changed live by admins: the real service on the brain the tests share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.conftest import StartOnSharedBrain
from tests.e2e.service import RunningService

Start = Callable[..., Awaitable[RunningService]]


@pytest.fixture
def start(database_url: str, start_on_shared_brain: StartOnSharedBrain) -> Start:
    """`await start(**environment)` on the test's database; call again for a restart."""

    async def run(**environment: Any) -> RunningService:
        return await start_on_shared_brain(database_url, **environment)

    return run
