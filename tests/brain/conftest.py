"""Brain fixtures: one embedding model and one sample index per test session.

Loading MiniLM takes seconds and embedding the sample knowledge base a few more, so
the offline brain over the bundled articles is built once and shared; tests that
change articles work on small copies in their own tmp_path.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from helpdesk.brain import Brain, load_brain
from helpdesk.brain import llm as llm_module
from helpdesk.config import SAMPLE_KNOWLEDGE_PATH, Settings
from tests.fakes.llm_server import FakeLLM, assert_valid_chat_request


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("brain-data")


@pytest.fixture(scope="session")
def make_settings(data_dir: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": data_dir,
            "knowledge_path": SAMPLE_KNOWLEDGE_PATH,
            "llm_base_url": None,
            "_env_file": None,
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture(scope="session")
async def offline_brain(make_settings: Callable[..., Settings]) -> AsyncIterator[Brain]:
    brain = await load_brain(make_settings())
    yield brain
    await brain.aclose()


@pytest.fixture(autouse=True)
def _forget_downgrades() -> Iterator[None]:
    # The downgrade memory is per process and keyed by URL; loopback ports get reused.
    llm_module._downgraded.clear()
    yield
    llm_module._downgraded.clear()


@pytest.fixture
async def fake_llm() -> AsyncIterator[FakeLLM]:
    async with FakeLLM() as fake:
        yield fake
    # Whatever a test did, every request we sent must be one OpenAI's API accepts.
    for body in fake.requests:
        assert_valid_chat_request(body)


LLMBrain = Callable[..., Awaitable[Brain]]


@pytest.fixture
async def llm_brain(
    fake_llm: FakeLLM, make_settings: Callable[..., Settings], offline_brain: Brain
) -> AsyncIterator[LLMBrain]:
    """Factory: a Brain answering through the fake LLM (shares the loaded index)."""
    brains: list[Brain] = []

    async def make(**overrides: Any) -> Brain:
        settings = make_settings(llm_base_url=fake_llm.base_url, **overrides)
        brain = await load_brain(settings)
        brains.append(brain)
        return brain

    yield make
    for brain in brains:
        await brain.aclose()


@pytest.fixture
def kb_copy(tmp_path: Path) -> Callable[..., Path]:
    """Copy some sample articles into a fresh folder (all of them if none named)."""

    def copy(*names: str) -> Path:
        target = tmp_path / "kb"
        target.mkdir(exist_ok=True)
        files = [SAMPLE_KNOWLEDGE_PATH / f"{n}.md" for n in names] or sorted(
            SAMPLE_KNOWLEDGE_PATH.glob("*.md")
        )
        for file in files:
            shutil.copy(file, target / file.name)
        return target

    return copy
