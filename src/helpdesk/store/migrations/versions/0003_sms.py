"""sms: phone verification, consent, customer update campaigns

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


CUSTOMER_COLUMNS = (
    ("phone_e164", sa.String(length=20)),
    ("phone_verified_at", sa.DateTime(timezone=True)),
    ("notifications_opted_out_at", sa.DateTime(timezone=True)),
    ("sms_opted_in_at", sa.DateTime(timezone=True)),
    ("sms_opted_out_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        for name, type_ in CUSTOMER_COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        for name, _type in reversed(CUSTOMER_COLUMNS):
            batch.drop_column(name)
