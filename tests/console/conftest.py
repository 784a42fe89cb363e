"""Console fixtures: the real service with the one embedding model tests share; log-ins."""

from __future__ import annotations

import pytest

from tests.conftest import StartOnSharedBrain
from tests.helpers.console import PASSWORD, add_agent, csrf_in, log_in

# The console helpers, importable from here too.
__all__ = ["PASSWORD", "StartConsole", "add_agent", "csrf_in", "log_in"]

StartConsole = StartOnSharedBrain


@pytest.fixture
def start_console(start_on_shared_brain: StartOnSharedBrain) -> StartConsole:
    """`await start_console(database_url, **settings)`: the real service, fake Telegram,
    the brain every test here shares."""
    return start_on_shared_brain
