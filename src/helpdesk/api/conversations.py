"""The inbox: list and read conversations, claim, reply, note, hand back, resolve."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, HTTPException, Path, Query
from fastapi.exceptions import RequestValidationError
from sqlalchemy import select

from helpdesk.api.auth import CurrentAgent, RuntimeDep
from helpdesk.api.errors import (
    CONFLICT,
    FORBIDDEN,
    INVALID,
    NOT_FOUND,
    UNAUTHORIZED,
    api_router,
    handoff_errors,
)
from helpdesk.api.schemas import (
    AssignRequest,
    ConversationDetailOut,
    ConversationOut,
    Created,
    MessageIn,
    NoteIn,
)
from helpdesk.domain import ConversationState
from helpdesk.store.models import Agent

router = api_router(prefix="/conversations", tags=["conversations"])

ConversationId = Annotated[int, Path(description="the conversation's id")]
ACTION_ERRORS = {**UNAUTHORIZED, **NOT_FOUND, **CONFLICT, **INVALID}


@router.get("", responses={**UNAUTHORIZED, **INVALID})
async def list_conversations(
    _agent: CurrentAgent,
    runtime: RuntimeDep,
    status: Annotated[ConversationState | None, Query(description="only this state")] = None,
    assigned_to: Annotated[int | None, Query(description="only this agent's")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[ConversationOut]:
    """Waiting conversations come longest-waiting first; the others, latest activity first."""
    found = await runtime.handoff.list_conversations(
        state=status.value if status else None, assigned_to=assigned_to, limit=limit
    )
    return [ConversationOut.model_validate(summary) for summary in found]


@router.get("/{conversation_id}", responses={**UNAUTHORIZED, **NOT_FOUND, **INVALID})
async def get_conversation(
    conversation_id: ConversationId, _agent: CurrentAgent, runtime: RuntimeDep
) -> ConversationDetailOut:
    """The conversation with its whole transcript, notes, audit trail and earlier ones."""
    with handoff_errors():
        detail = await runtime.handoff.get_conversation(conversation_id)
    return ConversationDetailOut.of(detail)


@router.post("/{conversation_id}/assign", responses={**ACTION_ERRORS, **FORBIDDEN})
async def assign(
    conversation_id: ConversationId,
    agent: CurrentAgent,
    runtime: RuntimeDep,
    body: Annotated[AssignRequest | None, Body()] = None,
) -> ConversationOut:
    """Claim the conversation: the bot stops answering and you reply.

    Of two agents claiming at once, one gets 200 and the other 409. An admin can take
    over a conversation another agent holds with `{"takeover": true, "reason": "..."}`
    (agents get 403); the audit trail records who, from whom and why.
    """
    assignee = agent.id
    takeover = body is not None and body.takeover
    if takeover and not agent.is_admin:
        raise HTTPException(403, "only admins can take over a conversation another agent has")
    if body is not None and body.agent_id is not None and body.agent_id != agent.id:
        if not agent.is_admin:
            raise HTTPException(403, "only admins can assign conversations to other agents")
        async with runtime.sessions() as session:
            active = await session.scalar(select(Agent.active).where(Agent.id == body.agent_id))
        if not active:
            raise RequestValidationError(
                [
                    {
                        "type": "value_error",
                        "loc": ("body", "agent_id"),
                        "msg": "no such active agent",
                    }
                ]
            )
        assignee = body.agent_id
    with handoff_errors():
        if takeover:
            assert body is not None
            await runtime.handoff.take_over(
                conversation_id,
                agent.id,
                assignee=assignee,
                reason=body.reason or "no reason given",
            )
        else:
            await runtime.handoff.claim(conversation_id, assignee)
    return await _summary(runtime, conversation_id)


@router.post("/{conversation_id}/messages", status_code=201, responses=ACTION_ERRORS)
async def reply(
    conversation_id: ConversationId, body: MessageIn, agent: CurrentAgent, runtime: RuntimeDep
) -> Created:
    """Send the customer a message, through the channel's outbox and rate limits.

    Replying to a conversation nobody holds (waiting, or the bot's) claims it for you
    first, as the console does; if another agent holds it, 409.
    """
    with handoff_errors():
        message_id = await runtime.handoff.reply(conversation_id, agent.id, body.text)
    return Created(id=message_id, conversation_id=conversation_id)


@router.post(
    "/{conversation_id}/notes",
    status_code=201,
    responses={**UNAUTHORIZED, **NOT_FOUND, **INVALID},
)
async def add_note(
    conversation_id: ConversationId, body: NoteIn, agent: CurrentAgent, runtime: RuntimeDep
) -> Created:
    """An internal note for the team; the customer never sees it."""
    with handoff_errors():
        note_id = await runtime.handoff.add_note(conversation_id, agent.id, body.text)
    return Created(id=note_id, conversation_id=conversation_id)


@router.post("/{conversation_id}/release", responses=ACTION_ERRORS)
async def release(
    conversation_id: ConversationId, agent: CurrentAgent, runtime: RuntimeDep
) -> ConversationOut:
    """Hand the conversation back to the bot."""
    with handoff_errors():
        await runtime.handoff.release(conversation_id, agent.id)
    return await _summary(runtime, conversation_id)


@router.post("/{conversation_id}/resolve", responses=ACTION_ERRORS)
async def resolve(
    conversation_id: ConversationId, agent: CurrentAgent, runtime: RuntimeDep
) -> ConversationOut:
    """Close the conversation; the customer's next message starts a new one."""
    with handoff_errors():
        await runtime.handoff.resolve(conversation_id, agent.id)
    return await _summary(runtime, conversation_id)


async def _summary(runtime: RuntimeDep, conversation_id: int) -> ConversationOut:
    with handoff_errors():
        detail = await runtime.handoff.get_conversation(conversation_id)
    return ConversationOut.model_validate(detail.summary)
