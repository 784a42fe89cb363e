"""The console over plain HTTP: login, CSRF, and the agent's forms against the real service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from helpdesk.console.pages import LOGIN_FAILED
from tests.console.conftest import StartConsole
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.telegram_updates import tg_text_update
from tests.helpers.console import PASSWORD, add_agent, browser, csrf_in, flash, log_in


async def test_login_is_required_and_failures_all_look_the_same(
    database_url: str, start_console: StartConsole
) -> None:
    service = await start_console(database_url)
    await add_agent(service, "grace@example.test", "Grace Hopper")
    async with browser(service) as client:
        page = await client.get("/console/conversations/7?tab=x")
        assert page.status_code == 303
        assert page.headers["location"] == "/console/login?next=/console/conversations/7%3Ftab%3Dx"
        assert (await client.get("/console")).headers["location"].startswith("/console/login")
        assert (await client.get("/console/events")).status_code == 401
        anonymous_post = await client.post("/console/availability", data={"available": "0"})
        assert anonymous_post.status_code == 303

        login_page = await client.get("/console/login")
        assert login_page.status_code == 200 and "<form" in login_page.text
        assert "default-src 'self'" in login_page.headers["content-security-policy"]

        wrong_password = await log_in(client, "grace@example.test", "not her password")
        unknown_email = await log_in(client, "nobody@example.test", PASSWORD)
        empty = await log_in(client, "", "")
        for failed in (wrong_password, unknown_email, empty):
            assert failed.status_code == 401
            assert LOGIN_FAILED in failed.text
            assert "helpdesk_console=" not in failed.headers.get("set-cookie", "")

        no_token = await client.post(
            "/console/login", data={"email": "grace@example.test", "password": PASSWORD}
        )
        assert no_token.status_code == 403

        ok = await log_in(client, "Grace@Example.test ", PASSWORD)
        assert ok.status_code == 303 and ok.headers["location"] == "/console"
        cookie = next(
            c for c in ok.headers.get_list("set-cookie") if c.startswith("helpdesk_console=")
        )
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie
        assert "Secure" not in cookie  # the public URL is http here
        session_token = client.cookies.get("helpdesk_console")

        inbox = await client.get("/console")
        assert inbox.status_code == 200 and "Nobody is waiting" in inbox.text
        assert (await client.get("/console/agents")).status_code == 403  # not an admin

        assert (await client.post("/console/logout", data={})).status_code == 403
        out = await client.post("/console/logout", data={"csrf": csrf_in(inbox.text)})
        assert out.status_code == 303
    async with browser(service) as replay:
        # The old cookie is worthless once logged out: the token was revoked.
        replay.cookies.set("helpdesk_console", session_token or "", path="/console")
        assert (await replay.get("/console")).status_code == 303


async def test_agent_claims_replies_notes_and_resolves_through_forms(
    database_url: str, start_console: StartConsole, telegram: FakeTelegram
) -> None:
    service = await start_console(database_url)
    await add_agent(service, "grace@example.test", "Grace Hopper")
    await add_agent(service, "alan@example.test", "Alan Turing", role="admin")
    async with browser(service) as grace, browser(service) as alan:
        await log_in(grace, "grace@example.test")
        await log_in(alan, "alan@example.test")
        async with grace.stream("GET", "/console/events") as events:
            assert events.headers["content-type"].startswith("text/event-stream")
            lines = events.aiter_lines()
            assert (await anext(lines)).startswith("retry:")

            await service.send_update(tg_text_update(1, 701, "/human"))
            await telegram.wait_for_messages(1, chat_id=701)
            await service.idle()
            seen = await _next_event(lines, "state")
            assert '"state": "waiting"' in seen
        await asyncio.sleep(0.2)
        assert service.runtime.events.subscriber_count == 0, "stream not closed on disconnect"

        [waiting] = await service.runtime.handoff.list_conversations(state="waiting")
        inbox = await grace.get("/console")
        assert "Ada Lovelace" in inbox.text and "Asked for a person" in inbox.text
        missing = await grace.get("/console/conversations/999999")
        assert missing.status_code == 404 and "no such conversation" in missing.text
        page_url = f"/console/conversations/{waiting.id}"
        page = await grace.get(page_url)
        token = csrf_in(page.text)

        for bad in ({}, {"csrf": "0" * 64}, {"csrf": csrf_in((await alan.get("/console")).text)}):
            refused = await grace.post(f"{page_url}/claim", data=bad)
            assert refused.status_code == 403, bad
        assert (await service.runtime.handoff.get_conversation(waiting.id)).summary.state == (
            "waiting"
        )

        claimed = await grace.post(f"{page_url}/claim", data={"csrf": token})
        assert claimed.status_code == 303 and claimed.headers["location"] == page_url
        assert flash((await grace.get(page_url)).text).startswith("ok: You have this")

        # Someone else's conversation: a flash message on the page, not an error page.
        alan_csrf = csrf_in((await alan.get("/console")).text)
        assert (await alan.post(f"{page_url}/claim", data={"csrf": alan_csrf})).status_code == 303
        shown = await alan.get(page_url)
        assert shown.status_code == 200
        assert flash(shown.text) == "error: Grace Hopper is handling this conversation."

        reply = await grace.post(
            f"{page_url}/reply", data={"csrf": token, "text": "Hi Ada, **Grace** here."}
        )
        assert reply.status_code == 303
        sent = await telegram.wait_for_messages(2, chat_id=701)
        assert "Grace" in sent[-1]["text"] and "Hi Ada" in sent[-1]["text"]

        note = await grace.post(
            f"{page_url}/notes", data={"csrf": token, "text": "VIP customer, be nice"}
        )
        assert note.status_code == 303
        page = await grace.get(page_url)
        assert "VIP customer, be nice" in page.text and "Hi Ada" in page.text
        await asyncio.sleep(0.3)
        assert len(telegram.sent_messages(chat_id=701)) == 2, "a note reached the customer"

        resolved = await grace.post(f"{page_url}/resolve", data={"csrf": token})
        assert resolved.status_code == 303
        assert flash((await grace.get(page_url)).text) == "ok: Resolved."
        late = await grace.post(f"{page_url}/reply", data={"csrf": token, "text": "one more"})
        assert late.status_code == 303
        assert flash((await grace.get(page_url)).text) == (
            "error: This conversation is already resolved."
        )
        assert "Ada Lovelace" in (await grace.get("/console?tab=resolved")).text

        away = await grace.post(
            "/console/availability", data={"csrf": token, "available": "0", "next": page_url}
        )
        assert away.headers["location"] == page_url
        assert "is-away" in (await grace.get(page_url)).text

        # Admins manage agents.
        agents = await alan.get("/console/agents")
        assert agents.status_code == 200 and "grace@example.test" in agents.text
        added = await alan.post(
            "/console/agents",
            data={
                "csrf": alan_csrf,
                "name": "Ada Byron",
                "email": "ada@example.test",
                "password": "long enough pw",
                "role": "agent",
            },
        )
        assert added.status_code == 303
        assert "ada@example.test" in (await alan.get("/console/agents")).text


async def _next_event(lines: AsyncIterator[str], kind: str, timeout: float = 10) -> str:
    async with asyncio.timeout(timeout):
        async for line in lines:
            if line == f"event: {kind}":
                return await anext(lines)
    raise AssertionError(f"no {kind} event")
