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
    op.create_table(
        "phone_verifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("phone_e164", sa.String(length=20), nullable=True),
        sa.Column("backend", sa.String(length=16), nullable=True),
        sa.Column("code_salt", sa.String(length=32), nullable=True),
        sa.Column("code_hash", sa.String(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_phone_verifications_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_verifications")),
    )
    op.create_index("ix_phone_verifications_customer", "phone_verifications", ["customer_id", "id"])
    op.create_index(
        "ix_phone_verifications_phone_sent", "phone_verifications", ["phone_e164", "sent_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_phone_verifications_phone_sent", table_name="phone_verifications")
    op.drop_index("ix_phone_verifications_customer", table_name="phone_verifications")
    op.drop_table("phone_verifications")
    with op.batch_alter_table("customers") as batch:
        for name, _type in reversed(CUSTOMER_COLUMNS):
            batch.drop_column(name)
