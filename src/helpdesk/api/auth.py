"""Bearer-token auth: log in for a token, and the `current_agent` dependency.

Tokens are random strings stored as SHA-256 (helpdesk.store.agents). The token
endpoint takes JSON {email, password}, or the OAuth2 password form (username,
password) that Swagger UI's "Authorize" button and OAuth2 client libraries send.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Annotated, Any, Protocol
from urllib.parse import parse_qs

from fastapi import Depends, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.security import OAuth2PasswordBearer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.api.errors import INVALID, UNAUTHORIZED, api_router, problem
from helpdesk.api.schemas import AgentOut, TokenOut, TokenRequest
from helpdesk.api.throttle import client_ip, guards_for
from helpdesk.handoff.events import EventBus
from helpdesk.handoff.service import HandoffService
from helpdesk.store import agents as agent_store

TOKEN_TTL = timedelta(days=7)
TOKEN_URL = "/api/auth/token"
FORM = "application/x-www-form-urlencoded"


class ApiRuntime(Protocol):
    """What the API uses of helpdesk.app.Runtime (importing it here would be circular)."""

    sessions: async_sessionmaker[AsyncSession]
    handoff: HandoffService
    events: EventBus
    stop: asyncio.Event


def get_runtime(request: Request) -> ApiRuntime:
    runtime: ApiRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[ApiRuntime, Depends(get_runtime)]

# auto_error=False: our own 401 says what is wrong, in the API's error shape.
_bearer = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


async def current_agent(
    request: Request, runtime: RuntimeDep, token: Annotated[str | None, Depends(_bearer)]
) -> AgentOut:
    if not token:
        raise unauthorized(
            f"not authenticated: send 'Authorization: Bearer <token>' (get one at {TOKEN_URL})"
        )
    # A plain `async with`, not a yield dependency: a session held for the request would
    # pin SQLite's only pooled connection for as long as an event stream stays open.
    async with runtime.sessions() as session:
        agent = await agent_store.agent_for_token(session, token, kind="api")
        found = AgentOut.model_validate(agent) if agent is not None else None
    if found is None:
        raise unauthorized("invalid or expired token: log in again")
    await guards_for(request.app.state, request.app.state.runtime.settings).presence.seen(
        runtime.sessions, found.id
    )
    return found


CurrentAgent = Annotated[AgentOut, Depends(current_agent)]


async def require_admin(agent: CurrentAgent) -> AgentOut:
    if not agent.is_admin:
        raise HTTPException(403, "only admins can do this")
    return agent


AdminAgent = Annotated[AgentOut, Depends(require_admin)]

router = api_router(tags=["auth"])

_FORM_SCHEMA = {
    "type": "object",
    "properties": {
        "grant_type": {"type": "string", "enum": ["password"]},
        "username": {"type": "string", "description": "the agent's email"},
        "password": {"type": "string", "format": "password"},
    },
    "required": ["username", "password"],
}


@router.post(
    "/auth/token",
    responses={**UNAUTHORIZED, **INVALID, **problem(429, "Too many failed logins: Retry-After")},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": TokenRequest.model_json_schema()},
                FORM: {"schema": _FORM_SCHEMA},
            },
        }
    },
)
async def issue_token(request: Request, runtime: RuntimeDep) -> TokenOut:
    """Exchange an agent's email and password for a bearer token.

    After 5 failed attempts for one email (20 from one address) within 15 minutes,
    429 with `Retry-After` (see `HELPDESK_LOGIN_*`).
    """
    credentials = await _credentials(request)
    logins = guards_for(request.app.state, request.app.state.runtime.settings).logins
    ip = client_ip(request)
    wait = logins.retry_after(credentials.email, ip)
    if wait is not None:
        raise HTTPException(
            429,
            f"too many failed logins: try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    logins.attempt(credentials.email, ip)
    async with runtime.sessions.begin() as session:
        agent = await agent_store.authenticate(session, credentials.email, credentials.password)
        if agent is None:
            # One message whether the email exists or not: no probing for accounts.
            raise unauthorized("wrong email or password")
        token = await agent_store.issue_token(session, agent.id, ttl=TOKEN_TTL)
    logins.succeeded(credentials.email, ip)
    return TokenOut(access_token=token, expires_in=int(TOKEN_TTL.total_seconds()))


@router.delete("/auth/token", status_code=204, responses=UNAUTHORIZED)
async def revoke_token(
    runtime: RuntimeDep, agent: CurrentAgent, token: Annotated[str | None, Depends(_bearer)]
) -> Response:
    """Log out: the token used for this request stops working."""
    assert token is not None  # current_agent has checked it
    async with runtime.sessions.begin() as session:
        await agent_store.revoke_token(session, token)
    return Response(status_code=204)


async def _credentials(request: Request) -> TokenRequest:
    body = await request.body()
    data: Any
    if request.headers.get("content-type", "").split(";")[0].strip() == FORM:
        fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        # OAuth2's password grant calls the login "username".
        fields.setdefault("email", fields.get("username", []))
        data = {key: fields[key][0] for key in ("email", "password") if fields.get(key)}
    else:
        try:
            data = json.loads(body) if body else None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise RequestValidationError(
                [{"type": "json_invalid", "loc": ("body",), "msg": f"invalid JSON: {error}"}]
            ) from error
    if data is None:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "send {email, password} as JSON"}]
        )
    try:
        return TokenRequest.model_validate(data)
    except ValidationError as error:
        raise RequestValidationError(
            [
                {**e, "loc": ("body", *e["loc"])}
                for e in error.errors(include_url=False, include_input=False)
            ]
        ) from error
