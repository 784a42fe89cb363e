"""Agents, their passwords (argon2) and their bearer tokens (stored as SHA-256)."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Sequence
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.store.models import Agent, AgentToken
from helpdesk.store.types import utcnow

_hasher = PasswordHasher()
# Verifying against this when the email is unknown keeps the response time the same,
# so a login form does not reveal which emails belong to agents.
_DUMMY_HASH = _hasher.hash("not-a-real-password")

ROLES = ("admin", "agent")


class AgentExists(ValueError):
    pass


async def create_agent(
    session: AsyncSession,
    *,
    email: str,
    name: str,
    password: str,
    role: str = "agent",
    phone: str | None = None,
) -> Agent:
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    if len(password) < 8:
        raise ValueError("password must have at least 8 characters")
    email = email.strip().lower()
    if await session.scalar(select(Agent.id).where(Agent.email == email)) is not None:
        raise AgentExists(f"an agent with email {email} exists")
    agent = Agent(
        email=email,
        name=name.strip(),
        phone=phone,
        role=role,
        # argon2 is deliberately slow (~0.3 s here): off the event loop.
        password_hash=await asyncio.to_thread(_hasher.hash, password),
        available=True,
        active=True,
        created_at=utcnow(),
    )
    session.add(agent)
    await session.flush()
    return agent


async def authenticate(session: AsyncSession, email: str, password: str) -> Agent | None:
    agent = await session.scalar(
        select(Agent).where(Agent.email == email.strip().lower(), Agent.active.is_(True))
    )
    try:
        await asyncio.to_thread(
            _hasher.verify, agent.password_hash if agent else _DUMMY_HASH, password
        )
    except (VerificationError, InvalidHashError):
        return None
    return agent


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_token(
    session: AsyncSession, agent_id: int, *, kind: str = "api", ttl: timedelta = timedelta(days=7)
) -> str:
    token = secrets.token_urlsafe(32)
    session.add(
        AgentToken(
            agent_id=agent_id,
            token_hash=_digest(token),
            kind=kind,
            created_at=utcnow(),
            expires_at=utcnow() + ttl,
        )
    )
    await session.flush()
    return token


async def agent_for_token(session: AsyncSession, token: str, *, kind: str) -> Agent | None:
    """The agent a live token of this kind belongs to: a console session cookie is not
    an API bearer token, nor the other way round."""
    return await session.scalar(
        select(Agent)
        .join(AgentToken, AgentToken.agent_id == Agent.id)
        .where(
            AgentToken.token_hash == _digest(token),
            AgentToken.kind == kind,
            AgentToken.expires_at > utcnow(),
            Agent.active.is_(True),
        )
    )


async def revoke_token(session: AsyncSession, token: str) -> None:
    await session.execute(delete(AgentToken).where(AgentToken.token_hash == _digest(token)))


async def set_available(session: AsyncSession, agent_id: int, available: bool) -> None:
    await session.execute(update(Agent).where(Agent.id == agent_id).values(available=available))


async def touch_last_seen(session: AsyncSession, agent_id: int) -> None:
    await session.execute(update(Agent).where(Agent.id == agent_id).values(last_seen_at=utcnow()))


async def list_agents(session: AsyncSession) -> Sequence[Agent]:
    return (await session.scalars(select(Agent).order_by(Agent.id))).all()
