"""Escalation and human handoff: the pure domain layer.

- `policy`: should a person take over, and why (`EscalationPolicy`, `Escalation`);
- `matching`: keyword and "I want a person" detection (`is_human_request`);
- `states`: who owns the conversation (`transition`, `bot_may_answer`);
- `queue_position`: the "a person will reply" message for the customer;
- `alerts`: who to alert, how, when to re-alert, and the alert texts.

Nothing here touches the database, the web framework or a provider SDK.
"""

from __future__ import annotations

from helpdesk.handoff.alerts import (
    Agent,
    AlertContext,
    AlertKind,
    AlertPlan,
    AlertRecord,
    AlertStatus,
    AlertText,
    Channel,
    PlannedAlert,
    Role,
    alert_text,
    conversation_link,
    plan_alerts,
)
from helpdesk.handoff.matching import is_human_request, keyword_hits
from helpdesk.handoff.policy import (
    Embedder,
    EncoderEmbedder,
    Escalation,
    EscalationPolicy,
    PastTurn,
    evaluate,
)
from helpdesk.handoff.queue_position import parse_opening_hours, queue_message
from helpdesk.handoff.states import (
    HandoffEvent,
    InvalidTransition,
    Transition,
    allowed_events,
    bot_may_answer,
    on_customer_message,
    transition,
)

__all__ = [
    "Agent",
    "AlertContext",
    "AlertKind",
    "AlertPlan",
    "AlertRecord",
    "AlertStatus",
    "AlertText",
    "Channel",
    "Embedder",
    "EncoderEmbedder",
    "Escalation",
    "EscalationPolicy",
    "HandoffEvent",
    "InvalidTransition",
    "PastTurn",
    "PlannedAlert",
    "Role",
    "Transition",
    "alert_text",
    "allowed_events",
    "bot_may_answer",
    "conversation_link",
    "evaluate",
    "is_human_request",
    "keyword_hits",
    "on_customer_message",
    "parse_opening_hours",
    "plan_alerts",
    "queue_message",
    "transition",
]
