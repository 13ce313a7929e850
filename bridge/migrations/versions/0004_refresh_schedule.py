"""Fetch states carry the background refresh schedule.

`horizon_days` (the widest horizon of the feeds reading the partition, so a fetch never
lists every feed), `next_due_at` (when the scheduler fetches it next), `queued_at` and
`force_requested` (one queued refresh job per partition), `last_polled_at` (partitions that
subscribers read come first) and `data_version` (rises with every merged change; the web
processes' render caches key on it). Existing partitions are due at once.

Revision ID: 0004_refresh_schedule
Revises: 0003_fetch_failing_since
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_refresh_schedule"
down_revision: str | Sequence[str] | None = "0003_fetch_failing_since"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("fetch_states") as batch_op:
        batch_op.add_column(
            sa.Column("horizon_days", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("force_requested", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("last_polled_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("data_version", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.create_index("ix_fetch_states_next_due_at", ["next_due_at"])
    op.execute("UPDATE fetch_states SET next_due_at = CURRENT_TIMESTAMP")


def downgrade() -> None:
    with op.batch_alter_table("fetch_states") as batch_op:
        batch_op.drop_index("ix_fetch_states_next_due_at")
        for column in (
            "data_version",
            "last_polled_at",
            "force_requested",
            "queued_at",
            "next_due_at",
            "horizon_days",
        ):
            batch_op.drop_column(column)
