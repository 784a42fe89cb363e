"""Console fixtures: the real service on the embedding model the tests share."""

from __future__ import annotations

import pytest

from tests.conftest import StartOnSharedBrain

StartConsole = StartOnSharedBrain


@pytest.fixture
def start_console(start_on_shared_brain: StartOnSharedBrain) -> StartConsole:
    """`await start_console(database_url, **settings)`: the real service, fake Telegram,
    the brain every test here shares."""
    return start_on_shared_brain
