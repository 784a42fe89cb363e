"""The calling agent (`/api/me`) and the team (`/api/agents`, admins only)."""

from __future__ import annotations

from fastapi import HTTPException
from sqlalchemy.exc import IntegrityError

from helpdesk.api.auth import AdminAgent, CurrentAgent, RuntimeDep
from helpdesk.api.errors import FORBIDDEN, INVALID, UNAUTHORIZED, api_router, problem
from helpdesk.api.schemas import AgentCreate, AgentOut, Availability
from helpdesk.store import agents as agent_store
from helpdesk.store.models import Agent

router = api_router(tags=["agents"])


@router.get("/me", responses=UNAUTHORIZED)
async def me(agent: CurrentAgent) -> AgentOut:
    """The agent the token belongs to."""
    return agent


@router.post("/me/availability", responses={**UNAUTHORIZED, **INVALID})
async def set_availability(
    body: Availability, agent: CurrentAgent, runtime: RuntimeDep
) -> AgentOut:
    """Available: alerted about waiting conversations. Away: not alerted."""
    async with runtime.sessions.begin() as session:
        await agent_store.set_available(session, agent.id, body.available)
    return agent.model_copy(update={"available": body.available})


@router.get("/agents", responses={**UNAUTHORIZED, **FORBIDDEN})
async def list_agents(_admin: AdminAgent, runtime: RuntimeDep) -> list[AgentOut]:
    async with runtime.sessions() as session:
        agents = await agent_store.list_agents(session)
        return [AgentOut.model_validate(agent) for agent in agents]


@router.post(
    "/agents",
    status_code=201,
    responses={
        **UNAUTHORIZED,
        **FORBIDDEN,
        **problem(409, "An agent with this email exists"),
        **INVALID,
    },
)
async def create_agent(body: AgentCreate, _admin: AdminAgent, runtime: RuntimeDep) -> AgentOut:
    """Add an agent or admin; they log in with this email and password."""
    try:
        async with runtime.sessions.begin() as session:
            agent: Agent = await agent_store.create_agent(session, **body.model_dump())
            created = AgentOut.model_validate(agent)
    except (agent_store.AgentExists, IntegrityError) as error:
        # IntegrityError: the same email created by a concurrent request.
        raise HTTPException(409, f"an agent with email {body.email} exists") from error
    return created
