"""Console sessions, CSRF tokens and form bodies.

Session: an opaque token from `store.agents.issue_token(kind="session")` in an
HttpOnly, SameSite=Lax cookie scoped to /console (Secure when the public URL is
https). Only its SHA-256 is stored, so logging out (revoking it) ends it everywhere.

CSRF: every POST form carries `csrf = HMAC-SHA256(key=session token, "console-csrf")`.
Keyed by the session token itself, it needs no server secret in the settings, stays
valid across restarts and across several worker processes, and cannot be computed
by a page that cannot read the HttpOnly cookie. The login form, which has no session
yet, uses a double-submit cookie instead (a random value in a cookie and in the form).

Form bodies are parsed here (urlencoded only): FastAPI's `Form()` would need
python-multipart, which the service does not otherwise depend on.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated
from urllib.parse import parse_qsl

from fastapi import Depends, HTTPException, Request, Response

from helpdesk.api.throttle import client_ip, guards_for
from helpdesk.store import agents as agent_store

if TYPE_CHECKING:
    from helpdesk.app import Runtime

COOKIE = "helpdesk_console"
LOGIN_COOKIE = "helpdesk_console_login"
COOKIE_PATH = "/console"
SESSION_TTL = timedelta(hours=12)
MAX_FORM_BYTES = 64 * 1024
FORM_TYPE = "application/x-www-form-urlencoded"
# `next` after login must stay inside the console: no scheme, no host, no "//".
_SAFE_NEXT = re.compile(r"^/console(/[\w\-/]*)?(\?[\w=&\-]*)?$")


class LoginRequired(Exception):
    """Raised by page dependencies; the console's route class turns it into a redirect."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in agent, as pages need it (a copy: no ORM object outlives its session)."""

    id: int
    name: str
    email: str
    role: str
    available: bool
    token: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def csrf(self) -> str:
        return csrf_token(self.token)


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def csrf_token(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"console-csrf", "sha256").hexdigest()


def safe_next(value: str | None) -> str:
    return value if value and _SAFE_NEXT.match(value) else "/console"


def secure_cookies(request: Request) -> bool:
    return runtime_of(request).settings.public_url.lower().startswith("https://")


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(SESSION_TTL.total_seconds()),
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        COOKIE, path=COOKIE_PATH, httponly=True, samesite="lax", secure=secure_cookies(request)
    )


def set_login_nonce(request: Request, response: Response, nonce: str) -> None:
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        max_age=3600,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
    )


def check_login_nonce(request: Request, form: dict[str, str]) -> None:
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    sent = form.get("csrf", "")
    if not cookie or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise HTTPException(403, "The login form expired. Reload the page and try again.")


async def signed_in(request: Request) -> Viewer | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    runtime = runtime_of(request)
    # A short session of its own: the SSE stream must not hold a pooled connection.
    async with runtime.sessions() as session:
        agent = await agent_store.agent_for_token(session, token, kind="session")
        if agent is None:
            return None
        viewer = Viewer(agent.id, agent.name, agent.email, agent.role, agent.available, token)
    await guards_for(request.app.state, runtime.settings).presence.seen(runtime.sessions, viewer.id)
    return viewer


def login_refusal(request: Request, email: str) -> tuple[int, str] | None:
    """(Retry-After seconds, message) when this login must wait; else counts the attempt.

    The same limits as the API's token endpoint, counted together with it.
    """
    logins = guards_for(request.app.state, runtime_of(request).settings).logins
    ip = client_ip(request)
    wait = logins.retry_after(email, ip)
    if wait is not None:
        minutes = max(1, round(wait / 60))
        return wait, f"Too many failed logins. Try again in about {minutes} min."
    logins.attempt(email, ip)
    return None


def login_succeeded(request: Request, email: str) -> None:
    logins = guards_for(request.app.state, runtime_of(request).settings).logins
    logins.succeeded(email, client_ip(request))


async def require_agent(request: Request) -> Viewer:
    viewer = await signed_in(request)
    if viewer is None:
        path = request.url.path
        query = f"?{request.url.query}" if request.url.query else ""
        raise LoginRequired(path + query if request.method == "GET" else "/console")
    return viewer


async def require_admin(viewer: Annotated[Viewer, Depends(require_agent)]) -> Viewer:
    if not viewer.is_admin:
        raise HTTPException(403, "Only admins can do this.")
    return viewer


async def read_form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_TYPE:
        # Browsers send our forms urlencoded; anything else has no fields for us, so it
        # fails the CSRF check (403) like any other forged POST.
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise HTTPException(413, "That form is too large.")
    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=20
        )
    except (UnicodeDecodeError, ValueError) as error:
        raise HTTPException(400, "That form could not be read.") from error
    return dict(pairs)


async def checked_form(
    request: Request, viewer: Annotated[Viewer, Depends(require_agent)]
) -> dict[str, str]:
    """The POSTed form of a signed-in agent, refused (403) without the right CSRF token."""
    form = await read_form(request)
    if not hmac.compare_digest(form.get("csrf", "").encode(), viewer.csrf.encode()):
        raise HTTPException(403, "The form's security token is missing or wrong. Reload the page.")
    return form


SignedIn = Annotated[Viewer, Depends(require_agent)]
AdminOnly = Annotated[Viewer, Depends(require_admin)]
CheckedForm = Annotated[dict[str, str], Depends(checked_form)]
