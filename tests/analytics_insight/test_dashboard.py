"""The admins' dashboard and knowledge-gaps pages over HTTP, against the real service."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from helpdesk.brain.knowledge import load_articles
from tests.analytics_insight.history import Chat, write_history
from tests.analytics_insight.test_clusters import TOPICS
from tests.console.conftest import StartConsole
from tests.helpers.console import add_agent, browser, csrf_in, flash

START = datetime(2026, 10, 1, tzinfo=UTC)
WEEK = "from=2026-10-01&to=2026-10-07"
DAY = timedelta(days=1)
ICELAND_ANSWER = "Yes, we ship to Iceland: 5-7 working days, customs prepaid."


def history() -> list[Chat]:
    tracking, password = TOPICS["tracking"], TOPICS["password"]
    return [
        # This week: 8 conversations. Bot resolved 5; 2 escalated; ratings 5, 5, 4, 2.
        *(
            Chat([tracking[i]], START + i * DAY / 4, rating=5 if i in (1, 4) else None)
            for i in (1, 4, 5, 7)
        ),
        Chat([password[0]], START + 2 * DAY),
        Chat([password[1]], START + 3 * DAY, outcome="abandoned", rating=2),
        Chat(
            ["Do you ship to Iceland?"],
            START + 4 * DAY,
            confidence=0.2,
            outcome="resolved_agent",
            agent_reply=ICELAND_ANSWER,
            rating=4,
        ),
        Chat(
            ["Can you deliver to Reykjavik in Iceland?"],
            START + 5 * DAY,
            confidence=0.15,
            outcome="resolved_agent",
            agent_reply=ICELAND_ANSWER,
        ),
        # The week before: 2 conversations, both resolved by the bot.
        Chat([tracking[1]], START - 3 * DAY),
        Chat([tracking[7]], START - 2 * DAY),
        # Another language, same week.
        Chat(["Wo ist mein Paket?", "Wo ist meine Sendung?"], START + DAY, language="de"),
    ]


def headline(html: str, key: str) -> tuple[str, str]:
    found = re.search(
        rf'data-key="{key}">.*?headline-value">([^<]*)<.*?headline-change[^>]*>([^<]*)<',
        html,
        re.S,
    )
    assert found, f"no headline {key}"
    return found.group(1), found.group(2)


def chart_data(html: str) -> dict:  # type: ignore[type-arg]
    found = re.search(r'<script type="application/json" id="analytics-data">(.*?)</script>', html)
    assert found
    return json.loads(found.group(1))  # type: ignore[no-any-return]


async def test_an_admin_sees_headlines_against_the_previous_period_charts_and_top_questions(
    database_url: str, start_console: StartConsole
) -> None:
    service = await start_console(database_url)
    await add_agent(service, "grace@example.test", "Grace Hopper", role="admin")
    await write_history(service.runtime.sessions, history())
    async with browser(service, "grace@example.test", timeout=60) as client:
        page = await client.get(f"/console/analytics?{WEEK}&language=en")
        assert page.status_code == 200, page.text
        html = page.text

    # 8 conversations against 2 (+300 %); the bot resolved 5 of 8 (62.5 %) against 2 of 2.
    assert headline(html, "conversations") == ("8", "+300 %")
    assert headline(html, "automated_resolution") == ("62.5 %", "-37.5 pts")
    assert headline(html, "escalation_rate") == ("25.0 %", "+25.0 pts")
    assert headline(html, "csat") == ("75.0 %", "no earlier data")
    assert 'class="headline-change trend-down is-bad"' in html  # resolution went down
    # Every chart gets its data; the volume series covers the 7 days of the period.
    data = chart_data(html)
    assert data["period"] == {
        "from": "2026-10-01",
        "to": "2026-10-07",
        "language": "en",
        "step": "day",
    }
    assert len(data["volume"]["labels"]) == 7 and sum(data["volume"]["series"][0]["data"]) == 8
    assert data["ratings"]["series"][0]["data"] == [0, 1, 0, 1, 2]
    assert sum(data["response_times"]["series"][0]["data"]) == 8
    assert data["reasons"]["labels"] == ["Low answer confidence"]
    assert [series["data"] for series in data["reasons"]["series"]] == [[2], [0]]
    assert data["clusters"]["labels"][0] in TOPICS["tracking"]
    assert data["clusters"]["series"] == [
        {"label": "This period", "data": [4, 2, 2]},
        {"label": "Previous period", "data": [2, 0, 0]},
    ]
    for name in ("volume", "rates", "csat", "ratings", "reasons", "response_times", "clusters"):
        assert f'data-chart="{name}"' in html
    assert "/console/static/chart.umd.min.js?v=" in html
    assert "/console/static/analytics.js?v=" in html
    # The common-questions table: each topic's trend, bot resolution and CSAT.
    table = html[html.index('id="clusters"') :]
    assert "+100 %" in table and "100 %" in table
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert "<script>" not in html  # no inline script: the data block is JSON, not code

    async with browser(service, "grace@example.test", timeout=60) as client:
        german = await client.get(f"/console/analytics?{WEEK}&language=de")
        everyone = await client.get(f"/console/analytics?{WEEK}")
        bad = await client.get("/console/analytics?from=2026-10-07&to=2026-10-01")
        preset = await client.get("/console/analytics?period=7d")
    assert headline(german.text, "conversations")[0] == "1"
    assert headline(everyone.text, "conversations")[0] == "9"
    assert bad.status_code == 400 and "ends before it starts" in bad.text
    assert preset.status_code == 200 and headline(preset.text, "conversations")[0] == "0"


async def test_only_admins_open_analytics_gaps_and_drafts(
    database_url: str, start_console: StartConsole
) -> None:
    service = await start_console(database_url)
    await add_agent(service, "alan@example.test", "Alan Turing")
    async with httpx.AsyncClient(base_url=service.base_url, timeout=30) as anonymous:
        login = await anonymous.get("/console/analytics")
        assert login.status_code == 303
        assert login.headers["location"] == "/console/login?next=/console/analytics"
    async with browser(service, "alan@example.test", timeout=60) as agent:
        inbox = await agent.get("/console")
        assert "/console/analytics" not in inbox.text and "/console/gaps" not in inbox.text
        assert (await agent.get("/console/analytics")).status_code == 403
        assert (await agent.get("/console/gaps")).status_code == 403
        post = await agent.post(
            "/console/gaps/drafts",
            data={"csrf": csrf_in(inbox.text), "article": "---\ntitle: Sneaky\n---\nbody\n"},
        )
        assert post.status_code == 403
    assert not service.settings.kb_drafts_path.exists()


async def test_an_admin_saves_a_gap_as_a_draft_article_in_one_click(
    database_url: str, start_console: StartConsole, tmp_path: Path
) -> None:
    drafts = tmp_path / "kb_drafts"
    service = await start_console(database_url, kb_drafts_path=drafts)
    await add_agent(service, "grace@example.test", "Grace Hopper", role="admin")
    await write_history(service.runtime.sessions, history())
    async with browser(service, "grace@example.test", timeout=60) as client:
        page = await client.get(f"/console/gaps?{WEEK}")
        assert page.status_code == 200
        html = page.text
        # One topic: both Iceland questions, the bot's unsure answer and the agent's answer.
        assert 'id="gap-2"' not in html
        first = html[html.index('id="gap-1"') : html.index("</ol>")]
        assert "Do you ship to Iceland?" in first and "Reykjavik" in first
        assert "unsure × 2" in first and "person stepped in × 2" in first
        assert ICELAND_ANSWER in first
        textarea = r'<textarea id="draft-1" name="article"[^>]*>(.*?)</textarea>'
        form = re.search(textarea, first, re.S)
        assert form
        draft = form.group(1).replace("&#39;", "'").replace("&amp;", "&").replace("&#34;", '"')
        assert draft.startswith("---\ntitle: ")
        nxt = re.search(r'name="next" value="([^"]*)"', first)
        assert nxt
        back = nxt.group(1).replace("&amp;", "&")
        assert back == f"/console/gaps?{WEEK}"

        saved = await client.post(
            "/console/gaps/drafts",
            data={"csrf": csrf_in(html), "article": draft, "next": back},
        )
        assert saved.status_code == 303 and saved.headers["location"] == f"/console/gaps?{WEEK}"
        assert flash((await client.get(saved.headers["location"])).text).startswith(
            "ok: Draft saved as"
        )
        [article] = load_articles(drafts)
        assert set(article.questions) == {
            "Do you ship to Iceland?",
            "Can you deliver to Reykjavik in Iceland?",
        }
        assert article.body == ICELAND_ANSWER

        broken = await client.post(
            "/console/gaps/drafts",
            data={"csrf": csrf_in(html), "article": "---\ntitle: [oops\n---\nbody"},
        )
        assert broken.status_code == 303
        message = flash((await client.get(broken.headers["location"])).text)
        assert message.startswith("error: Not saved: the knowledge base could not read it")
        no_csrf = await client.post("/console/gaps/drafts", data={"article": draft})
        assert no_csrf.status_code == 403
    assert len(list(drafts.iterdir())) == 1
