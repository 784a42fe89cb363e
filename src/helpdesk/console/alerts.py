"""Failed agent alerts in the console: on each conversation, and a list for admins.

An SMS or email that could not be delivered (rejected, out of retries, or reported
undelivered by Twilio) is otherwise only in the log; the people who rely on alerts
should see that one did not reach someone. The alert worker publishes an "alert"
event when one fails, so both views refresh live (console.js).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.console.auth import AdminOnly, runtime_of
from helpdesk.console.render import ConsoleRoute, render
from helpdesk.store import agents as agent_store
from helpdesk.store import alerts as alert_store
from helpdesk.store.models import Alert

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

ADMIN_LIST_LIMIT = 100


@dataclass(frozen=True, slots=True)
class FailedAlert:
    id: int
    conversation_id: int | None
    agent_id: int | None
    channel: str
    recipient: str
    kind: str
    error: str
    delivery_status: str | None
    at: datetime


def _view(row: Alert) -> FailedAlert:
    return FailedAlert(
        id=row.id,
        conversation_id=row.conversation_id,
        agent_id=row.agent_id,
        channel=row.channel,
        recipient=row.recipient,
        kind=row.kind,
        error=row.last_error or "unknown error",
        delivery_status=row.delivery_status,
        # When it was given up on, if it went out at all; else when it was queued.
        at=row.sent_at or row.created_at,
    )


async def failed_alerts_of(
    sessions: async_sessionmaker[AsyncSession], conversation_id: int
) -> list[FailedAlert]:
    async with sessions() as session:
        rows = await alert_store.alerts_of(session, conversation_id)
    return [_view(row) for row in rows if row.status == alert_store.FAILED]


async def recent_failed(
    session: AsyncSession, *, limit: int = ADMIN_LIST_LIMIT
) -> list[FailedAlert]:
    return [_view(row) for row in await alert_store.recent_failed_alerts(session, limit=limit)]


@router.get("/console/alerts")
async def alerts_page(request: Request, viewer: AdminOnly) -> Response:
    async with runtime_of(request).sessions() as session:
        failed = await recent_failed(session)
        agents = {agent.id: agent.name for agent in await agent_store.list_agents(session)}
    return render(
        request, "alerts.html", viewer=viewer, failed=failed, agents=agents, limit=ADMIN_LIST_LIMIT
    )
