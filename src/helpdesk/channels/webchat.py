"""The web chat: a page at /chat and its JSON endpoint, answered by the same brain.

It needs no Telegram token, so a newcomer can talk to the bot right after the
first command. Replies come back in the HTTP response instead of an outbox.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Cookie, Request, Response
from fastapi.responses import HTMLResponse
from markdown_it import MarkdownIt
from pydantic import BaseModel, Field

from helpdesk.domain import IncomingMessage, MessageKind

CHANNEL = "web"
COOKIE = "helpdesk_chat"
PAGE = Path(__file__).with_name("webchat.html")

router = APIRouter()
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False})
_sequence = count(1)


class ChatRequest(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


class ChatReply(BaseModel):
    html: str
    markdown: str
    confidence: float | None = None
    needs_human: bool = False
    sources: list[dict[str, str | float | None]] = []


@router.get("/chat", response_class=HTMLResponse)
async def chat_page() -> HTMLResponse:
    return HTMLResponse(PAGE.read_text(encoding="utf-8"))


@router.post("/chat/messages")
async def post_message(
    body: ChatRequest,
    request: Request,
    response: Response,
    chat_cookie: Annotated[str | None, Cookie(alias=COOKIE)] = None,
) -> ChatReply:
    chat_id = _chat_id(chat_cookie)
    if chat_cookie is None or str(chat_id) != chat_cookie:
        response.set_cookie(COOKIE, str(chat_id), httponly=True, samesite="lax")
    text = body.text.strip()
    incoming = IncomingMessage(
        channel=CHANNEL,
        update_id=next(_sequence),
        chat_id=chat_id,
        user_id=chat_id,
        kind=MessageKind.COMMAND if text.startswith("/") else MessageKind.TEXT,
        sent_at=datetime.now(UTC),
        text=text,
    )
    service = request.app.state.runtime.service
    reply = await service.handle(incoming, update_row_id=None)
    if reply is None:
        return ChatReply(html="", markdown="")
    answer = reply.answer
    return ChatReply(
        html=_markdown.render(reply.text),
        markdown=reply.text,
        confidence=answer.confidence if answer else None,
        needs_human=answer.needs_human if answer else False,
        sources=[
            {"title": source.title, "url": source.url, "score": source.score}
            for source in (answer.sources if answer else ())
        ],
    )


def _chat_id(cookie: str | None) -> int:
    if cookie and cookie.isdigit() and 0 < int(cookie) < 2**53:
        return int(cookie)
    # Web visitors get ids above Telegram's range so the two never collide.
    return 2**52 + secrets.randbelow(2**52 - 1)
