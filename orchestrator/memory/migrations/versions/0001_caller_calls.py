"""Caller memory: one row per remembered call.

Revision ID: 0001
Revises: none
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _json(*, none_as_null: bool = False) -> sa.JSON:
    return sa.JSON(none_as_null=none_as_null).with_variant(
        postgresql.JSONB(none_as_null=none_as_null), "postgresql"
    )


def upgrade() -> None:
    op.create_table(
        "caller_calls",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("caller_key", sa.String(64), nullable=False),
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("facts", _json(), nullable=False),
        sa.Column("transcript", _json(), nullable=False),
        sa.Column("sentiment", _json(none_as_null=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_caller_calls"),
        sa.UniqueConstraint("call_sid", name="uq_caller_calls_call_sid"),
    )
    op.create_index(
        "ix_caller_calls_caller_key_ended_at_id", "caller_calls", ["caller_key", "ended_at", "id"]
    )
    op.create_index("ix_caller_calls_ended_at", "caller_calls", ["ended_at"])


def downgrade() -> None:
    op.drop_index("ix_caller_calls_ended_at", table_name="caller_calls")
    op.drop_index("ix_caller_calls_caller_key_ended_at_id", table_name="caller_calls")
    op.drop_table("caller_calls")
