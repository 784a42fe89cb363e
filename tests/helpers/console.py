"""The agents' console over plain HTTP: agents, log-ins, CSRF fields, flash messages."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from helpdesk.store import agents as agent_store
from tests.e2e.service import RunningService

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf" value="([^"]*)"')
_FLASH = re.compile(r'<p class="flash flash-(\w+)"[^>]*>([^<]*)</p>')


async def add_agent(service: RunningService, email: str, name: str, *, role: str = "agent") -> int:
    """An agent (or admin) whose password is PASSWORD."""
    async with service.runtime.sessions.begin() as session:
        agent = await agent_store.create_agent(
            session, email=email, name=name, password=PASSWORD, role=role
        )
        return int(agent.id)


def csrf_in(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


async def log_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    form = await client.get("/console/login")
    return await client.post(
        "/console/login",
        data={"email": email, "password": password, "csrf": csrf_in(form.text)},
    )


@asynccontextmanager
async def browser(
    service: RunningService, email: str | None = None, *, timeout: float = 15
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the console, logged in as `email` when one is given."""
    async with httpx.AsyncClient(base_url=service.base_url, timeout=timeout) as client:
        if email is not None:
            assert (await log_in(client, email)).status_code == 303
        yield client


def flash(html: str) -> str:
    """The page's flash message as "kind: text", or ""."""
    found = _FLASH.search(html)
    return f"{found.group(1)}: {found.group(2)}" if found else ""
