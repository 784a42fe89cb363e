"""Agent alerts in the database: the notifications' outbox, their history, who is on duty.

Every alert is a row before it is sent, keyed by a `dedup_key` that names the
escalation, the rung of the ladder, the agent and the channel, so planning the same
step twice (a retry, a restart, two workers) never queues it twice. Sending claims a
row with a lease (a conditional UPDATE), so two workers never send the same row at
once and a row whose sender died mid-send comes due again when the lease runs out.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.domain import Author, ConversationState, EscalationReason, Turn
from helpdesk.handoff.alerts import (
    EMAIL_MESSAGES,
    Agent,
    AlertContext,
    AlertRecord,
    AlertStatus,
    Channel,
    Role,
)
from helpdesk.handoff.policy import Escalation
from helpdesk.store import conversations as conversation_store
from helpdesk.store.dialect import upsert
from helpdesk.store.models import Agent as AgentRow
from helpdesk.store.models import Alert, Conversation, Message
from helpdesk.store.types import utcnow

PENDING = "pending"
SENT = "sent"  # accepted by the provider (delivery may follow on a status callback)
FAILED = "failed"  # rejected, out of retries, or reported undelivered
LOGGED = "logged"  # no provider configured for the channel: shown in the console only
CANCELLED = "cancelled"  # the conversation was claimed (or closed) before it went out

# Twilio MessageStatus values, in the order a message moves through them. A late
# "sent" callback must not overwrite "delivered" (Twilio does not promise order).
_DELIVERY_RANK = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "receiving": 3,
    "received": 4,
    "delivered": 4,
    "read": 5,
    "undelivered": 4,
    "failed": 4,
    "canceled": 4,
}
DELIVERY_FAILED = frozenset({"undelivered", "failed"})


def dedup_key(
    conversation_id: int, escalated_at: datetime, kind: str, agent_id: str, channel: str
) -> str:
    return f"alert:{conversation_id}:{escalated_at.isoformat()}:{kind}:{agent_id}:{channel}"


@dataclass(frozen=True, slots=True)
class NewAlert:
    conversation_id: int
    agent_id: int | None
    channel: str
    recipient: str
    kind: str
    subject: str | None
    body: str
    dedup_key: str
    html: str | None = None


async def queue_alerts(
    session: AsyncSession, alerts: Sequence[NewAlert], *, now: datetime | None = None
) -> list[int]:
    """Insert the alerts not queued before; return the ids of the new rows."""
    now = now or utcnow()
    new_ids = []
    for alert in alerts:
        statement = (
            upsert(session, Alert)
            .values(
                conversation_id=alert.conversation_id,
                agent_id=alert.agent_id,
                channel=alert.channel,
                recipient=alert.recipient,
                kind=alert.kind,
                subject=alert.subject[:255] if alert.subject else None,
                body=alert.body,
                html=alert.html,
                dedup_key=alert.dedup_key,
                status=PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["dedup_key"])
            .returning(Alert.id)
        )
        alert_id = await session.scalar(statement)
        if alert_id is not None:
            new_ids.append(alert_id)
    return new_ids


async def due_alerts(
    session: AsyncSession, *, now: datetime | None = None, limit: int = 100
) -> Sequence[Alert]:
    query = (
        select(Alert)
        .where(Alert.status == PENDING, Alert.next_attempt_at <= (now or utcnow()))
        .order_by(Alert.next_attempt_at, Alert.id)
        .limit(limit)
    )
    return (await session.scalars(query)).all()


async def next_attempt_at(session: AsyncSession) -> datetime | None:
    # ORDER BY + LIMIT, not MIN(): an aggregate loses the column type (and on SQLite
    # comes back as a string).
    when: datetime | None = await session.scalar(
        select(Alert.next_attempt_at)
        .where(Alert.status == PENDING)
        .order_by(Alert.next_attempt_at)
        .limit(1)
    )
    return when


async def claim(
    session: AsyncSession, alert_id: int, *, lease: float, now: datetime | None = None
) -> int | None:
    """Take a due row for `lease` seconds; return its attempt number, None if taken."""
    now = now or utcnow()
    attempts: int | None = await session.scalar(
        update(Alert)
        .where(Alert.id == alert_id, Alert.status == PENDING, Alert.next_attempt_at <= now)
        .values(next_attempt_at=now + timedelta(seconds=lease), attempts=Alert.attempts + 1)
        .returning(Alert.attempts)
    )
    return attempts


async def _finish(session: AsyncSession, alert_id: int, **values: object) -> None:
    await session.execute(
        update(Alert).where(Alert.id == alert_id).values(**values),
        execution_options={"synchronize_session": False},
    )


async def mark_sent(session: AsyncSession, alert_id: int, provider_id: str | None) -> None:
    await _finish(session, alert_id, status=SENT, provider_id=provider_id, sent_at=utcnow())


async def mark_logged(session: AsyncSession, alert_id: int) -> None:
    await _finish(session, alert_id, status=LOGGED, sent_at=utcnow())


async def mark_failed(session: AsyncSession, alert_id: int, error: str) -> None:
    await _finish(session, alert_id, status=FAILED, last_error=error[:2000])


async def cancel(session: AsyncSession, alert_id: int, reason: str) -> None:
    await _finish(session, alert_id, status=CANCELLED, last_error=reason[:2000])


async def reschedule(session: AsyncSession, alert_id: int, delay: float, error: str) -> None:
    await _finish(
        session,
        alert_id,
        next_attempt_at=utcnow() + timedelta(seconds=delay),
        last_error=error[:2000],
    )


@dataclass(frozen=True, slots=True)
class DeliveryUpdate:
    alert_id: int
    conversation_id: int | None
    failed: bool  # the provider says the agent did not get it


async def record_delivery_status(
    session: AsyncSession, provider_id: str, status: str, error_code: str | None = None
) -> DeliveryUpdate | None:
    """Note what the provider reported for a sent message; None for an unknown id."""
    row = await session.scalar(select(Alert).where(Alert.provider_id == provider_id).limit(1))
    if row is None:
        return None
    status = status.strip().lower()
    if _DELIVERY_RANK.get(status, 0) < _DELIVERY_RANK.get(row.delivery_status or "", -1):
        return DeliveryUpdate(row.id, row.conversation_id, failed=False)
    values: dict[str, object] = {"delivery_status": status[:32]}
    failed = status in DELIVERY_FAILED
    if failed:
        code = f" (error {error_code})" if error_code else ""
        values.update(status=FAILED, last_error=f"provider reported {status}{code}")
    await _finish(session, row.id, **values)
    return DeliveryUpdate(row.id, row.conversation_id, failed=failed)


async def alert_history(
    session: AsyncSession, conversation_id: int, since: datetime
) -> list[AlertRecord]:
    """The alerts of one escalation as `plan_alerts` reads them.

    Queued and retrying rows count as sent: the ladder must not move on while one is
    still on its way. A logged alert counts as sent too, since the console shows it.
    """
    rows = (
        await session.scalars(
            select(Alert)
            .where(
                Alert.conversation_id == conversation_id,
                Alert.created_at >= since,
                Alert.status != CANCELLED,
            )
            .order_by(Alert.id)
        )
    ).all()
    return [
        AlertRecord(
            # A deleted agent still counts as someone alerted, each row as its own.
            agent_id=str(row.agent_id) if row.agent_id is not None else f"gone:{row.id}",
            channel=Channel(row.channel),
            at=row.sent_at or row.created_at,
            status=AlertStatus.FAILED if row.status == FAILED else AlertStatus.SENT,
        )
        for row in rows
    ]


async def alerts_of(session: AsyncSession, conversation_id: int) -> Sequence[Alert]:
    """Every alert of a conversation, oldest first (the console's conversation view)."""
    rows = await session.scalars(
        select(Alert).where(Alert.conversation_id == conversation_id).order_by(Alert.id)
    )
    return rows.all()


async def recent_alerts(
    session: AsyncSession, *, statuses: Collection[str] | None = None, limit: int = 50
) -> Sequence[Alert]:
    """The newest alerts first, optionally only those in `statuses`."""
    query = select(Alert)
    if statuses is not None:
        query = query.where(Alert.status.in_(list(statuses)))
    return (await session.scalars(query.order_by(Alert.id.desc()).limit(limit))).all()


async def recent_failed_alerts(session: AsyncSession, *, limit: int = 50) -> Sequence[Alert]:
    return await recent_alerts(session, statuses=(FAILED,), limit=limit)


async def agents_on_duty(session: AsyncSession) -> list[Agent]:
    """Active agents and admins, least busy first (the alert rotation), away ones included:
    `plan_alerts` skips away agents but may still call on an away admin."""
    busy = (
        select(Conversation.assigned_agent_id.label("agent_id"), func.count().label("n"))
        .where(Conversation.state == ConversationState.HUMAN.value)
        .group_by(Conversation.assigned_agent_id)
        .subquery()
    )
    load = func.coalesce(busy.c.n, 0)
    rows = (
        await session.scalars(
            select(AgentRow)
            .outerjoin(busy, busy.c.agent_id == AgentRow.id)
            .where(AgentRow.active.is_(True))
            .order_by(load, AgentRow.id)
        )
    ).all()
    return [
        Agent(
            id=str(row.id),
            name=row.name,
            email=row.email or None,
            phone=row.phone or None,
            available=row.available,
            role=Role.ADMIN if row.role == Role.ADMIN.value else Role.AGENT,
        )
        for row in rows
    ]


async def waiting_conversations(session: AsyncSession) -> list[int]:
    """Every conversation waiting for a person."""
    rows = await session.scalars(
        select(Conversation.id).where(
            Conversation.state == ConversationState.WAITING.value,
            Conversation.escalated_at.is_not(None),
        )
    )
    return list(rows.all())


async def waiting_since(session: AsyncSession, conversation_id: int) -> datetime | None:
    """When the conversation was escalated, if it is still waiting for a person."""
    row = (
        await session.execute(
            select(Conversation.state, Conversation.escalated_at).where(
                Conversation.id == conversation_id
            )
        )
    ).one_or_none()
    if row is None or row.state != ConversationState.WAITING.value:
        return None
    escalated_at: datetime | None = row.escalated_at
    return escalated_at


async def conversation_state(session: AsyncSession, conversation_id: int | None) -> str | None:
    if conversation_id is None:
        return None
    state: str | None = await session.scalar(
        select(Conversation.state).where(Conversation.id == conversation_id)
    )
    return state


async def alert_context(session: AsyncSession, conversation_id: int) -> AlertContext | None:
    """What an alert says about a conversation: who, why, the last messages."""
    row = await conversation_store.conversation_with_customer(session, conversation_id)
    if row is None:
        return None
    conversation, customer = row
    name = " ".join(p for p in (customer.first_name, customer.last_name) if p) or (
        f"@{customer.username}" if customer.username else None
    )
    try:
        reason = EscalationReason(conversation.escalation_reason or "")
        detail = conversation.escalation_detail or ""
    except ValueError:  # a reason from a newer or older release: keep its words
        reason = EscalationReason.EXPLICIT_REQUEST
        detail = conversation.escalation_reason or conversation.escalation_detail or ""
    messages = (
        await session.execute(
            select(Message.author, Message.text)
            .where(Message.conversation_id == conversation_id, Message.text.is_not(None))
            .order_by(Message.id.desc())
            .limit(EMAIL_MESSAGES)
        )
    ).all()
    turns = [Turn(_author(author), text or "") for author, text in reversed(messages)]
    return AlertContext(
        conversation_id=conversation_id,
        customer_name=name,
        escalation=Escalation(reason, detail),
        last_messages=turns,
        channel=conversation.channel,
        escalated_at=conversation.escalated_at,
    )


def _author(value: str) -> Author:
    try:
        return Author(value)
    except ValueError:
        return Author.SYSTEM
