"""Archive partitions and fetch states.

A feed's filters (TagMango `user`, `mangoes`) make its fetch a different upstream query
from another feed's on the same source, so each (source, filters) pair — a partition —
gets its own archive and fetch state. Existing rows become the whole-source partition "".

Downgrading keeps only the whole-source partition's sessions (others cannot fit the old
unique constraint).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fetch_states",
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("partition_key", sa.String(length=255), nullable=False),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name=op.f("fk_fetch_states_source_id_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("source_id", "partition_key", name=op.f("pk_fetch_states")),
    )
    op.execute(
        "INSERT INTO fetch_states (source_id, partition_key, last_success_at, last_error, "
        "last_error_at) SELECT id, '', last_success_at, last_error, last_error_at FROM sources "
        "WHERE last_success_at IS NOT NULL OR last_error_at IS NOT NULL"
    )
    op.drop_index("ix_archived_sessions_source_series", table_name="archived_sessions")
    op.drop_index("ix_archived_sessions_source_start", table_name="archived_sessions")
    with op.batch_alter_table("archived_sessions") as batch_op:
        # The server default fills existing rows; the second batch removes it again.
        batch_op.add_column(
            sa.Column("partition_key", sa.String(length=255), nullable=False, server_default="")
        )
        batch_op.drop_constraint("uq_archived_sessions_source_upstream", type_="unique")
        batch_op.create_unique_constraint(
            "uq_archived_sessions_partition_upstream", ["source_id", "partition_key", "upstream_id"]
        )
    with op.batch_alter_table("archived_sessions") as batch_op:
        batch_op.alter_column("partition_key", server_default=None)
    op.create_index(
        "ix_archived_sessions_partition_series",
        "archived_sessions",
        ["source_id", "partition_key", "series_key"],
        unique=False,
    )
    op.create_index(
        "ix_archived_sessions_partition_start",
        "archived_sessions",
        ["source_id", "partition_key", "start_at"],
        unique=False,
    )


def downgrade() -> None:
    op.execute("DELETE FROM archived_sessions WHERE partition_key <> ''")
    op.drop_index("ix_archived_sessions_partition_start", table_name="archived_sessions")
    op.drop_index("ix_archived_sessions_partition_series", table_name="archived_sessions")
    with op.batch_alter_table("archived_sessions") as batch_op:
        batch_op.drop_constraint("uq_archived_sessions_partition_upstream", type_="unique")
        batch_op.create_unique_constraint(
            "uq_archived_sessions_source_upstream", ["source_id", "upstream_id"]
        )
        batch_op.drop_column("partition_key")
    op.create_index(
        "ix_archived_sessions_source_start",
        "archived_sessions",
        ["source_id", "start_at"],
        unique=False,
    )
    op.create_index(
        "ix_archived_sessions_source_series",
        "archived_sessions",
        ["source_id", "series_key"],
        unique=False,
    )
    op.drop_table("fetch_states")
