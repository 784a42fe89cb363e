"""Analytics tests reuse the end-to-end fixtures: the real service, fake Telegram."""

from tests.e2e.conftest import start_service  # noqa: F401
