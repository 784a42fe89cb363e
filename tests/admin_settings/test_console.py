"""The console's settings page: admins only, CSRF-checked, changes live and audited."""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from tests.admin_settings.conftest import Start
from tests.e2e.service import RunningService
from tests.helpers.console import add_agent, csrf_in, log_in


@asynccontextmanager
async def browser(service: RunningService, email: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as client:
        assert (await log_in(client, email)).status_code == 303
        yield client


def flash(html: str) -> str:
    found = re.search(r'<p class="flash flash-(\w+)"[^>]*>([^<]*)</p>', html)
    return f"{found.group(1)}: {html_lib.unescape(found.group(2))}" if found else ""


def form_of(html: str, topic: str) -> dict[str, str]:
    """One topic's settings form as a browser would send it unchanged."""
    start = html.index(f'name="topic" value="{topic}"')
    html = html[start : html.index("</form>", start)]
    fields = {"topic": topic} | dict(
        re.findall(r'<input id="s-[^"]+" name="([^"]+)" value="([^"]*)"', html)
    )
    fields |= {
        name: text.replace("&#34;", '"')
        for name, text in re.findall(r'<textarea id="s-[^"]+" name="([^"]+)"[^>]*>([^<]*)<', html)
    }
    fields |= dict.fromkeys(re.findall(r'name="([^"]+)" type="checkbox" checked', html), "on")
    return fields


async def test_the_page_shows_admins_every_editable_setting_beside_its_default(
    start: Start,
) -> None:
    service = await start(contact_footer="Call us.", sendgrid_api_key="SG.very-secret")
    await add_agent(service, "ada@example.test", "Ada", role="admin")
    await add_agent(service, "alan@example.test", "Alan")

    async with browser(service, "alan@example.test") as agent:
        assert (await agent.get("/console/settings")).status_code == 403
        assert 'href="/console/settings"' not in (await agent.get("/console")).text
    async with browser(service, "ada@example.test") as admin:
        page = await admin.get("/console/settings")
        assert 'href="/console/settings"' in (await admin.get("/console")).text

    assert page.status_code == 200
    for topic in ("Escalation", "Answers", "Handoff", "Branding"):
        assert f">{topic}</h2>" in page.text
    assert form_of(page.text, "Branding")["contact_footer"] == "Call us."
    assert form_of(page.text, "Escalation")["escalation_keywords"].splitlines()[0] == "lawyer"
    assert "very-secret" not in page.text and "No setting has been changed" in page.text


async def test_a_form_post_with_csrf_changes_settings_live_and_is_audited(start: Start) -> None:
    service = await start()
    settings = service.runtime.settings
    await add_agent(service, "ada@example.test", "Ada", role="admin")
    async with browser(service, "ada@example.test") as admin:
        page = await admin.get("/console/settings")
        branding = form_of(page.text, "Branding") | {"company_name": "Acme Outdoor"}
        refused = await admin.post("/console/settings", data=branding)
        assert refused.status_code == 403  # no CSRF token
        assert settings.company_name == "Northwind Goods"

        csrf = {"csrf": csrf_in(page.text)}
        escalation = form_of(page.text, "Escalation") | csrf
        escalation["escalation_human_phrases"] = "real person\r\nsomeone human\r\n"
        del escalation["escalation_sentiment_enabled"]  # an unticked box is not sent
        for form in (escalation, branding | csrf):
            assert (await admin.post("/console/settings", data=form)).status_code == 303
        page = await admin.get("/console/settings")

        assert settings.company_name == "Acme Outdoor"
        assert settings.escalation_human_phrases == ["real person", "someone human"]
        assert settings.escalation_sentiment_enabled is False
        # Booleans of the other topics were not in those forms, and did not change.
        assert settings.escalation_keywords_enabled is True
        assert flash(page.text) == "ok: Saved: company_name."
        assert "<td>Ada</td>" in page.text  # who changed it, in the recent changes
        assert '<code>"Northwind Goods"</code></td>\n        <td><code>"Acme Outdoor"' in page.text

        handoff = form_of(page.text, "Handoff") | csrf | {"handoff_sla_seconds": "0"}
        assert (await admin.post("/console/settings", data=handoff)).status_code == 303
        page = await admin.get("/console/settings")
        assert flash(page.text).startswith("error: Nothing saved. handoff_sla_seconds:")
        assert settings.handoff_sla_seconds == 300

        reset = await admin.post("/console/settings/company_name/reset", data=csrf)
        assert reset.status_code == 303
        page = await admin.get("/console/settings")
        assert flash(page.text) == "ok: company_name is back to the environment's value."
        assert settings.company_name == "Northwind Goods"
        assert "(reset)" in page.text
