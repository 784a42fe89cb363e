"""Fixtures: the product's encoder (loaded once per run) and the console's service."""

from __future__ import annotations

import pytest

from helpdesk.brain.embeddings import Encoder
from helpdesk.config import Settings


@pytest.fixture(scope="session")
async def encoder() -> Encoder:
    # The same encoder the brain uses; the model itself is cached per process.
    encoder = Encoder(Settings(_env_file=None).embedding_model)
    await encoder.load()
    return encoder


# The console's fixtures: the real service (webhook mode, fake Telegram) sharing one brain.
from tests.console.conftest import start_console  # noqa: E402

__all__ = ["start_console"]
