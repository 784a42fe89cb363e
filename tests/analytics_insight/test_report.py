"""`helpdesk report`: a self-contained HTML file with the dashboard's figures and charts."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.analytics_insight.history import write_history
from tests.analytics_insight.test_clusters import TOPICS
from tests.analytics_insight.test_dashboard import history

ROOT = Path(__file__).resolve().parents[2]


async def helpdesk(*args: str, database_url: str, cwd: Path) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "HELPDESK_DATABASE_URL": database_url,
        "HELPDESK_DATA_DIR": str(cwd / "var"),
        "HELPDESK_LOG_LEVEL": "WARNING",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "helpdesk.cli",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=300)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_report_command_writes_one_self_contained_html_file_with_the_figures(
    database_url: str, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await write_history(sessions, history())
    out = tmp_path / "reports" / "october.html"

    code, stdout, stderr = await helpdesk(
        "report",
        "--from",
        "2026-10-01",
        "--to",
        "2026-10-07",
        "--out",
        str(out),
        "--language",
        "en",
        database_url=database_url,
        cwd=tmp_path,
    )

    assert code == 0, stderr
    assert str(out) in stdout
    html = out.read_text(encoding="utf-8")
    # Nothing is fetched: no external script, stylesheet, image or font.
    assert 'src="http' not in html and "src='http" not in html
    assert not re.search(r"<script[^>]+src=", html)
    assert "<link" not in html and "@import" not in html and "url(http" not in html
    # Chart.js is inlined with its license header, and so is the chart script.
    assert "Chart.js v4.6.1" in html and "Released under the MIT License" in html
    assert "window.helpdeskCharts" in html
    # The figures: the same headlines and chart data as the dashboard's.
    assert re.search(r'data-key="conversations">.*?headline-value">8<', html, re.S)
    assert re.search(r'data-key="csat">.*?headline-value">75.0 %<', html, re.S)
    block = re.search(r'<script type="application/json" id="analytics-data">(.*?)</script>', html)
    assert block
    data = json.loads(block.group(1))
    assert sum(data["volume"]["series"][0]["data"]) == 8
    assert data["ratings"]["series"][0]["data"] == [0, 1, 0, 1, 2]
    assert data["clusters"]["labels"][0] in TOPICS["tracking"]
    for name in ("volume", "rates", "csat", "ratings", "reasons", "response_times", "clusters"):
        assert f'data-chart="{name}"' in html
    gaps = html[html.index('id="gaps"') :]
    assert "Do you ship to Iceland?" in gaps and "unsure × 2" in gaps
    assert "2026-10-01 to 2026-10-07" in html

    code, _, stderr = await helpdesk(
        "report",
        "--from",
        "2026-10-07",
        "--to",
        "2026-10-01",
        "--out",
        str(out),
        database_url=database_url,
        cwd=tmp_path,
    )
    assert code == 2 and "ends before it starts" in stderr
