"""The tables, one module per capability. Every change needs an Alembic migration in
migrations/versions/ (tests/store/test_migrations.py compares the two)."""

from helpdesk.store.models.analytics import AnswerFeedback, ConversationOutcome, Rating
from helpdesk.store.models.base import NAMING, Base
from helpdesk.store.models.campaigns import Campaign, CampaignEvent, CampaignRecipient
from helpdesk.store.models.conversations import (
    Conversation,
    Customer,
    Message,
    OutboxItem,
    RawUpdate,
)
from helpdesk.store.models.handoff import Agent, AgentToken, Alert, ConversationEvent, Note
from helpdesk.store.models.settings import SettingChange, SettingOverride
from helpdesk.store.models.verification import PhoneVerification

__all__ = [
    "NAMING",
    "Agent",
    "AgentToken",
    "Alert",
    "AnswerFeedback",
    "Base",
    "Campaign",
    "CampaignEvent",
    "CampaignRecipient",
    "Conversation",
    "ConversationEvent",
    "ConversationOutcome",
    "Customer",
    "Message",
    "Note",
    "OutboxItem",
    "PhoneVerification",
    "Rating",
    "RawUpdate",
    "SettingChange",
    "SettingOverride",
]
