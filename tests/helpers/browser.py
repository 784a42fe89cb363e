"""Pages in a real browser: Debian's Chromium driven by Playwright.

Browser tests run on SQLite only (the database is not what they check) and keep their
screenshots in var/artifacts/ (ignored by git) for a human to look at.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from helpdesk.store.migrate import upgrade_async

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "artifacts"

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's Chromium at /usr/bin/chromium (scripts/test installs it: "
    "apt-get install -y chromium)",
)


async def sqlite_database(tmp_path: Path, name: str) -> str:
    """A migrated SQLite database in the test's tmp dir."""
    url = f"sqlite+aiosqlite:///{tmp_path / name}"
    await upgrade_async(url)
    return url


@asynccontextmanager
async def chromium(playwright_api: Any) -> AsyncIterator[Any]:
    """Chromium, headless and sandbox-free (as in a container), closed afterwards."""
    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield browser
        finally:
            await browser.close()


def keep_screenshot(shot: Path, name: str) -> None:
    """A copy of the screenshot in var/artifacts/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, ARTIFACTS / name)
