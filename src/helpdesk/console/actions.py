"""What agents do: claim, hand back to the bot, resolve, reply, note; availability.

Every action is a POST form (CSRF-checked) answered with a redirect and a flash
message (post/redirect/get), so a refresh never sends a reply twice. A refusal by
the handoff service (Conflict) becomes a flash message on the conversation page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, HTTPException, Request, Response

from helpdesk.console.auth import (
    AdminOnly,
    CheckedForm,
    SignedIn,
    Viewer,
    runtime_of,
    safe_next,
)
from helpdesk.console.pages import RESOLVED, agent_names
from helpdesk.console.render import ConsoleRoute, redirect
from helpdesk.handoff.service import Conflict, NotFound
from helpdesk.store import agents as agent_store

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

# Telegram's limit is 4096 characters per message; the outlet splits longer Markdown,
# but an agent's single reply that long is almost always a paste by mistake.
MAX_REPLY = 4000
MAX_NOTE = 4000


def _page(conversation_id: int) -> str:
    return f"/console/conversations/{conversation_id}"


async def _explain(request: Request, conversation_id: int, viewer: Viewer, error: Conflict) -> str:
    """The service's refusal, in the words of someone looking at the console."""
    try:
        summary = (await runtime_of(request).handoff.get_conversation(conversation_id)).summary
    except NotFound:
        return str(error)
    owner = summary.assigned_agent_id
    if summary.state == RESOLVED:
        return "This conversation is already resolved."
    if owner is not None and owner != viewer.id:
        name = (await agent_names(request)).get(owner, f"agent {owner}")
        return f"{name} is handling this conversation."
    return f"That did not work: {error}."


async def _act(
    request: Request,
    conversation_id: int,
    viewer: Viewer,
    action: Callable[[], Awaitable[object]],
    done: str,
) -> Response:
    try:
        await action()
    except NotFound as error:
        raise HTTPException(404, "There is no such conversation.") from error
    except Conflict as error:
        message = await _explain(request, conversation_id, viewer, error)
        return redirect(request, _page(conversation_id), ("error", message))
    return redirect(request, _page(conversation_id), ("ok", done))


@router.post("/console/conversations/{conversation_id}/claim")
async def claim(
    request: Request, conversation_id: int, viewer: SignedIn, form: CheckedForm
) -> Response:
    handoff = runtime_of(request).handoff
    return await _act(
        request,
        conversation_id,
        viewer,
        lambda: handoff.claim(conversation_id, viewer.id),
        "You have this conversation now. The bot stays quiet until you hand it back.",
    )


@router.post("/console/conversations/{conversation_id}/release")
async def release(
    request: Request, conversation_id: int, viewer: SignedIn, form: CheckedForm
) -> Response:
    handoff = runtime_of(request).handoff
    return await _act(
        request,
        conversation_id,
        viewer,
        lambda: handoff.release(conversation_id, viewer.id),
        "Handed back to the bot.",
    )


@router.post("/console/conversations/{conversation_id}/resolve")
async def resolve(
    request: Request, conversation_id: int, viewer: SignedIn, form: CheckedForm
) -> Response:
    handoff = runtime_of(request).handoff
    return await _act(
        request,
        conversation_id,
        viewer,
        lambda: handoff.resolve(conversation_id, viewer.id),
        "Resolved.",
    )


@router.post("/console/conversations/{conversation_id}/reply")
async def reply(
    request: Request, conversation_id: int, viewer: SignedIn, form: CheckedForm
) -> Response:
    text = form.get("text", "").strip()
    if not text or len(text) > MAX_REPLY:
        problem = "Write a reply first." if not text else f"Keep replies under {MAX_REPLY} chars."
        return redirect(request, _page(conversation_id), ("error", problem))
    handoff = runtime_of(request).handoff
    # The service claims a conversation nobody holds before the reply goes out.
    return await _act(
        request,
        conversation_id,
        viewer,
        lambda: handoff.reply(conversation_id, viewer.id, text),
        "Reply sent to the customer.",
    )


@router.post("/console/conversations/{conversation_id}/takeover")
async def take_over(
    request: Request, conversation_id: int, viewer: AdminOnly, form: CheckedForm
) -> Response:
    reason = form.get("reason", "").strip()[:500] or "no reason given"
    handoff = runtime_of(request).handoff
    return await _act(
        request,
        conversation_id,
        viewer,
        lambda: handoff.take_over(conversation_id, viewer.id, reason=reason),
        "You have taken over this conversation; its previous agent sees it in the history.",
    )


@router.post("/console/conversations/{conversation_id}/notes")
async def add_note(
    request: Request, conversation_id: int, viewer: SignedIn, form: CheckedForm
) -> Response:
    text = form.get("text", "").strip()
    if not text or len(text) > MAX_NOTE:
        problem = "Write a note first." if not text else f"Keep notes under {MAX_NOTE} chars."
        return redirect(request, _page(conversation_id), ("error", problem))
    handoff = runtime_of(request).handoff
    return await _act(
        request,
        conversation_id,
        viewer,
        lambda: handoff.add_note(conversation_id, viewer.id, text),
        "Note added (the customer does not see it).",
    )


@router.post("/console/availability")
async def availability(request: Request, viewer: SignedIn, form: CheckedForm) -> Response:
    available = form.get("available") == "1"
    async with runtime_of(request).sessions.begin() as session:
        await agent_store.set_available(session, viewer.id, available)
    status = "available: new conversations can be assigned to you" if available else "away"
    return redirect(request, safe_next(form.get("next")), ("ok", f"You are {status}."))
