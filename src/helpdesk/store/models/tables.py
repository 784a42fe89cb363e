"""The Core tables behind the models, for the per-message path.

A statement on `Message` run through a session goes through the ORM's bulk-persistence
and compile-state machinery (about 0.3 ms per statement); the same statement on
`messages` skips it. Reads and writes of the hot path use these.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table

from helpdesk.store.models.analytics import AnswerFeedback
from helpdesk.store.models.conversations import (
    Conversation,
    Customer,
    Message,
    OutboxItem,
    RawUpdate,
)

answer_feedback = cast(Table, AnswerFeedback.__table__)
conversations = cast(Table, Conversation.__table__)
customers = cast(Table, Customer.__table__)
messages = cast(Table, Message.__table__)
outbox = cast(Table, OutboxItem.__table__)
updates = cast(Table, RawUpdate.__table__)
