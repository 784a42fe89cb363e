"""The dashboard in a real browser (Debian's Chromium driven by Playwright): Chart.js
draws every chart under the console's strict CSP, and a screenshot is kept in
var/artifacts/analytics.png (ignored by git) for a human to look at."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from helpdesk.analytics.charts import parse_period
from helpdesk.analytics.report import write_report
from helpdesk.brain.knowledge import load_articles
from helpdesk.config import Settings
from helpdesk.store.db import create_engine, session_factory
from tests.analytics_insight.history import write_history
from tests.analytics_insight.test_dashboard import ICELAND_ANSWER, WEEK, history
from tests.console.conftest import StartConsole
from tests.helpers.browser import chromium, keep_screenshot, needs_chromium, sqlite_database
from tests.helpers.console import PASSWORD, add_agent

CHARTS = ("volume", "rates", "csat", "ratings", "reasons", "response_times", "clusters")
# Pixels with any ink per canvas: axes and labels alone are a few thousand.
INKED = """() => Array.from(document.querySelectorAll("canvas[data-chart]")).map((canvas) => {
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let inked = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) inked++;
  return [canvas.dataset.chart, inked];
})"""

pytestmark = needs_chromium


async def test_the_dashboard_draws_its_charts_in_the_browser(
    tmp_path: Path, start_console: StartConsole
) -> None:
    playwright_api = pytest.importorskip("playwright.async_api")
    database_url = await sqlite_database(tmp_path, "dashboard.db")
    drafts = tmp_path / "kb_drafts"
    service = await start_console(database_url, kb_drafts_path=drafts)
    await add_agent(service, "grace@example.test", "Grace Hopper", role="admin")
    await write_history(service.runtime.sessions, history())

    async with chromium(playwright_api) as browser:
        page = await browser.new_page(viewport={"width": 1360, "height": 1000})
        page.set_default_timeout(15_000)
        expect = playwright_api.expect
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.on("console", lambda message: _console_error(problems, message))
        page.on("response", lambda response: _failed(problems, response))

        await page.goto(f"{service.base_url}/console/analytics?{WEEK}")
        await page.get_by_label("Email").fill("grace@example.test")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await expect(page.get_by_role("heading", name="Analytics", exact=True)).to_be_visible()
        await expect(page.locator("canvas[data-drawn]")).to_have_count(len(CHARTS))

        instances: list[Any] = await page.evaluate(
            "() => window.helpdeskCharts.map((c) => [c.canvas.dataset.chart, c.config.type,"
            " c.data.datasets.map((d) => d.data.filter((v) => v !== null).length)])"
        )
        assert [name for name, _, _ in instances] == list(CHARTS)
        assert {name: kind for name, kind, _ in instances}["volume"] == "bar"
        assert {name: kind for name, kind, _ in instances}["rates"] == "line"
        for name, _, points in instances:
            assert points and points[0] > 0, f"{name} has no data"
        inked = dict(await page.evaluate(INKED))
        for name in CHARTS:
            assert inked[name] > 2000, f"the {name} chart looks empty: {inked}"
        await expect(
            page.locator("#headlines [data-key=conversations] .headline-value")
        ).to_have_text("9")
        # Tracking, Iceland, password, and the German customers' "where is my parcel".
        await expect(page.locator("#clusters tbody tr")).to_have_count(4)

        shot = tmp_path / "analytics.png"
        await page.screenshot(path=str(shot), full_page=True)
        keep_screenshot(shot, "analytics.png")

        # Filters are plain GET forms: pick a language, apply.
        await page.get_by_label("Language").select_option("de")
        await page.get_by_role("button", name="Apply").click()
        await expect(
            page.locator("#headlines [data-key=conversations] .headline-value")
        ).to_have_text("0")  # the preset (last 30 days) has no German conversation

        # Knowledge gaps: one click saves the pre-filled draft.
        await page.goto(f"{service.base_url}/console/gaps?{WEEK}")
        gap = page.locator("#gap-1")
        await expect(gap.locator(".agent-answer")).to_contain_text("ship to Iceland")
        await gap.get_by_role("button", name="Save draft").click()
        await expect(page.locator(".flash-ok")).to_contain_text("Draft saved as")
        await page.screenshot(path=str(tmp_path / "gaps.png"), full_page=True)
        keep_screenshot(tmp_path / "gaps.png", "gaps.png")
    assert problems == [], problems  # no CSP violation, no script error
    [article] = load_articles(drafts)
    assert article.body == ICELAND_ANSWER


async def test_the_report_file_draws_the_same_charts_offline(tmp_path: Path) -> None:
    playwright_api = pytest.importorskip("playwright.async_api")
    database_url = await sqlite_database(tmp_path, "report.db")
    settings = Settings(_env_file=None, database_url=database_url, data_dir=tmp_path / "var")
    engine = create_engine(database_url)
    try:
        await write_history(session_factory(engine), history())
    finally:
        await engine.dispose()
    period = parse_period(None, "2026-10-01", "2026-10-07")
    report = await write_report(settings, period, tmp_path / "report.html")

    async with chromium(playwright_api) as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        fetched: list[str] = []
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.on("console", lambda message: _console_error(problems, message))

        async def refuse(route: Any) -> None:
            fetched.append(route.request.url)
            await route.abort()

        await page.route(lambda url: not url.startswith("file:"), refuse)
        await page.goto(report.as_uri())
        await playwright_api.expect(page.locator("canvas[data-drawn]")).to_have_count(len(CHARTS))
        inked = dict(await page.evaluate(INKED))
        for name in CHARTS:
            assert inked[name] > 2000, f"the {name} chart looks empty: {inked}"
        await page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        keep_screenshot(tmp_path / "report.png", "report.png")
    assert fetched == []  # the file needs nothing from anywhere
    assert problems == [], problems


def _console_error(problems: list[str], message: Any) -> None:
    # Failed loads are reported with their URL by _failed.
    if message.type == "error" and not message.text.startswith("Failed to load resource"):
        problems.append(message.text)


def _failed(problems: list[str], response: Any) -> None:
    # The browser asks for /favicon.ico on its own; the console has none.
    if response.status >= 400 and not response.url.endswith("/favicon.ico"):
        problems.append(f"{response.status} {response.url}")
