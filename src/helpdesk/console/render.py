"""Templates, flash messages, and the route class that turns errors into pages."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from fastapi import HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup

from helpdesk.console.auth import COOKIE_PATH, LoginRequired, secure_cookies
from helpdesk.domain import MEDIA_KINDS

TEMPLATES_DIR = Path(__file__).with_name("templates")
STATIC_DIR = Path(__file__).with_name("static")
STATIC_PREFIX = "/console/static"
FLASH_COOKIE = "helpdesk_console_flash"
# Background refreshes (console.js) send this header: they must not eat a flash message.
LIVE_HEADER = "x-console-live"

REASONS = {
    "explicit_request": "Asked for a person",
    "low_confidence": "Low answer confidence",
    "keyword": "Trigger word",
    "repetition": "Repeated question",
    "sentiment": "Upset customer",
    "llm_failure": "AI unavailable",
    "llm_request": "AI asked for help",
}
MEDIA_LABELS = {
    "photo": "Photo",
    "voice": "Voice message",
    "audio": "Audio",
    "video": "Video",
    "document": "Document",
    "sticker": "Sticker",
    "location": "Location",
    "contact": "Contact",
}
SECURITY_HEADERS = {
    # Everything the console needs is its own: no inline script or style anywhere.
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_MARKS = re.compile(r"[*`]+|^#{1,6}\s+", re.MULTILINE)
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "breaks": True})


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return "just now"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def since(moment: datetime | None) -> str:
    return "" if moment is None else duration((datetime.now(UTC) - moment).total_seconds())


def clock(moment: datetime) -> str:
    """Server-side fallback; console.js rewrites it in the agent's own time zone."""
    today = datetime.now(UTC).date()
    return moment.strftime("%H:%M" if moment.date() == today else "%d %b %H:%M") + " UTC"


def markdown(text: str | None) -> Markup:
    return Markup(_markdown.render(text or ""))


def plain(text: str | None) -> str:
    """A one-line preview of a Markdown message: links keep their text, marks go."""
    text = _LINK.sub(r"\1", text or "")
    return " ".join(_MARKS.sub("", text).split())


def web_url(url: object) -> str | None:
    """Only http(s) links from knowledge-base metadata become hrefs."""
    if isinstance(url, str) and url.lower().startswith(("https://", "http://")):
        return url
    return None


@cache
def _static_version(name: str) -> str:
    # Cache busting without a build step: the URL changes when the file does.
    return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:10]


def static(name: str) -> str:
    return f"{STATIC_PREFIX}/{name}?v={_static_version(name)}"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(since=since, clock=clock, markdown=markdown, plain=plain, web_url=web_url)
    env.globals.update(
        static=static,
        reasons=REASONS,
        media_labels=MEDIA_LABELS,
        media_kinds=frozenset(kind.value for kind in MEDIA_KINDS),
    )
    return env


templates = _environment()


def set_flash(response: Response, request: Request, kind: str, text: str) -> None:
    response.set_cookie(
        FLASH_COOKIE,
        quote(f"{kind}:{text}"),
        max_age=60,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
    )


def redirect(request: Request, url: str, flash: tuple[str, str] | None = None) -> Response:
    response = RedirectResponse(url, status_code=303)
    if flash is not None:
        set_flash(response, request, *flash)
    return response


def render(request: Request, name: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    flash: dict[str, str] | None = None
    raw = request.cookies.get(FLASH_COOKIE)
    consume = raw is not None and LIVE_HEADER not in request.headers
    if consume and raw:
        kind, _, text = unquote(raw).partition(":")
        flash = {"kind": "error" if kind == "error" else "ok", "text": text}
    context.setdefault("viewer", None)
    html = templates.get_template(name).render(request=request, flash=flash, **context)
    response = HTMLResponse(html, status_code=status)
    if consume:
        response.delete_cookie(FLASH_COOKIE, path=COOKIE_PATH)
    return response


class ConsoleRoute(APIRoute):
    """Console routes answer with pages: a login redirect, or an error page, never JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def console_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except LoginRequired as needed:
                response = RedirectResponse(
                    f"/console/login?next={quote(needed.next_path, safe='/')}", status_code=303
                )
            except HTTPException as error:
                response = render(
                    request,
                    "error.html",
                    status=error.status_code,
                    message=str(error.detail),
                )
            for header, value in SECURITY_HEADERS.items():
                response.headers.setdefault(header, value)
            return response

        return console_handler
