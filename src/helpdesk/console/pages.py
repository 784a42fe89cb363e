"""Pages: login and logout, the inbox, a conversation, and the admins' agent list."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from sqlalchemy import select

from helpdesk.console.alerts import failed_alerts_of
from helpdesk.console.auth import (
    SESSION_TTL,
    AdminOnly,
    CheckedForm,
    SignedIn,
    check_login_nonce,
    clear_session_cookie,
    login_refusal,
    login_succeeded,
    read_form,
    runtime_of,
    safe_next,
    set_login_nonce,
    set_session_cookie,
    signed_in,
)
from helpdesk.console.render import ConsoleRoute, redirect, render
from helpdesk.domain import ConversationState
from helpdesk.handoff.service import NotFound
from helpdesk.handoff.views import ConversationSummary
from helpdesk.store import agents as agent_store
from helpdesk.store.models import Conversation

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

BOT, WAITING, HUMAN, RESOLVED = (state.value for state in ConversationState)
TABS = {"waiting": "Waiting", "mine": "Mine", "open": "All open", "resolved": "Resolved"}
# The same words whatever was wrong: the form must not tell which emails are agents.
LOGIN_FAILED = "Wrong email or password."


async def agent_names(request: Request) -> dict[int, str]:
    async with runtime_of(request).sessions() as session:
        return {agent.id: agent.name for agent in await agent_store.list_agents(session)}


@router.get("/console/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    if await signed_in(request) is not None:
        return redirect(request, safe_next(next))
    return _login_form(request, next_path=safe_next(next))


def _login_form(
    request: Request, *, next_path: str, email: str = "", error: str | None = None
) -> Response:
    nonce = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        status=401 if error else 200,
        next_path=next_path,
        email=email,
        error=error,
        nonce=nonce,
    )
    set_login_nonce(request, response, nonce)
    return response


@router.post("/console/login")
async def login(request: Request) -> Response:
    form = await read_form(request)
    check_login_nonce(request, form)
    email = form.get("email", "").strip()
    next_path = safe_next(form.get("next"))
    refused = login_refusal(request, email)
    if refused is not None:
        wait, message = refused
        response = _login_form(request, next_path=next_path, email=email, error=message)
        response.status_code = 429
        response.headers["Retry-After"] = str(wait)
        return response
    async with runtime_of(request).sessions.begin() as session:
        agent = await agent_store.authenticate(session, email, form.get("password", ""))
        token = (
            None
            if agent is None
            else await agent_store.issue_token(session, agent.id, kind="session", ttl=SESSION_TTL)
        )
    if token is None:
        return _login_form(request, next_path=next_path, email=email, error=LOGIN_FAILED)
    login_succeeded(request, email)
    response = redirect(request, next_path)
    set_session_cookie(request, response, token)
    return response


@router.post("/console/logout")
async def logout(request: Request, viewer: SignedIn, form: CheckedForm) -> Response:
    async with runtime_of(request).sessions.begin() as session:
        await agent_store.revoke_token(session, viewer.token)
    response = redirect(request, "/console/login", ("ok", "You are logged out."))
    clear_session_cookie(request, response)
    return response


@router.get("/console")
async def inbox(request: Request, viewer: SignedIn, tab: str = "waiting") -> Response:
    handoff = runtime_of(request).handoff
    tab = tab if tab in TABS else "waiting"
    waiting = await handoff.list_conversations(state=WAITING)
    mine = await handoff.list_conversations(state=HUMAN, assigned_to=viewer.id)
    rows: list[ConversationSummary]
    if tab == "waiting":
        rows = waiting
    elif tab == "mine":
        rows = mine
    elif tab == "open":
        # Waiting first (oldest escalation on top), then the team's, then the bot's.
        rows = (
            waiting
            + await handoff.list_conversations(state=HUMAN)
            + await handoff.list_conversations(state=BOT, limit=50)
        )
    else:
        rows = await handoff.list_conversations(state=RESOLVED, limit=50)
    return render(
        request,
        "inbox.html",
        viewer=viewer,
        tabs=TABS,
        tab=tab,
        rows=rows,
        counts={"waiting": len(waiting), "mine": len(mine)},
        agents=await agent_names(request),
    )


@router.get("/console/conversations/{conversation_id}")
async def conversation_page(request: Request, conversation_id: int, viewer: SignedIn) -> Response:
    try:
        detail = await runtime_of(request).handoff.get_conversation(conversation_id)
    except NotFound as error:
        raise HTTPException(404, "There is no such conversation.") from error
    return render(
        request,
        "conversation.html",
        viewer=viewer,
        c=detail.summary,
        detail=detail,
        agents=await agent_names(request),
        past=await _past(request, detail.past_conversations),
        threshold=runtime_of(request).settings.answer_threshold,
        failed_alerts=await failed_alerts_of(runtime_of(request).sessions, conversation_id),
    )


async def _past(request: Request, ids: list[int]) -> list[dict[str, Any]]:
    """The customer's earlier conversations, newest first (the service gives only ids)."""
    if not ids:
        return []
    query = (
        select(Conversation.id, Conversation.state, Conversation.created_at)
        .where(Conversation.id.in_(ids[:20]))
        .order_by(Conversation.id.desc())
    )
    async with runtime_of(request).sessions() as session:
        return [row._asdict() for row in (await session.execute(query)).all()]


@router.get("/console/agents")
async def agents_page(request: Request, viewer: AdminOnly) -> Response:
    async with runtime_of(request).sessions() as session:
        agents = list(await agent_store.list_agents(session))
    return render(request, "agents.html", viewer=viewer, agents=agents, roles=agent_store.ROLES)


@router.post("/console/agents")
async def create_agent(request: Request, viewer: AdminOnly, form: CheckedForm) -> Response:
    if not form.get("email", "").strip() or not form.get("name", "").strip():
        return redirect(request, "/console/agents", ("error", "Email and name are required."))
    try:
        async with runtime_of(request).sessions.begin() as session:
            agent = await agent_store.create_agent(
                session,
                email=form.get("email", ""),
                name=form.get("name", ""),
                password=form.get("password", ""),
                role=form.get("role", "agent"),
                phone=form.get("phone") or None,
            )
            name = agent.name
    except ValueError as error:  # AgentExists is a ValueError too
        return redirect(request, "/console/agents", ("error", str(error)))
    return redirect(request, "/console/agents", ("ok", f"{name} can now log in."))
