"""Analytics tests reuse the end-to-end fixtures: the real service, fake Telegram."""

from tests.e2e.conftest import data_dir, llm, start_service, telegram  # noqa: F401
