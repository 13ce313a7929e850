"""The change log: what each merge changed in each partition, numbered in commit order.

`changes` holds one row per added, changed, cancelled or removed occurrence; `change_counter`
(one row) hands out the numbers and remembers the last one pruned.

Revision ID: 0005_change_log
Revises: 0004_refresh_schedule
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_change_log"
down_revision: str | Sequence[str] | None = "0004_refresh_schedule"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "changes",
        sa.Column("number", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("partition_key", sa.String(length=255), nullable=False),
        sa.Column("upstream_id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name="fk_changes_source_id_sources",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("number", name="pk_changes"),
    )
    op.create_index(
        "ix_changes_partition_number", "changes", ["source_id", "partition_key", "number"]
    )
    op.create_index("ix_changes_end_at", "changes", ["end_at"])
    counter = op.create_table(
        "change_counter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_number", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("pruned_through", sa.BigInteger(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name="pk_change_counter"),
    )
    op.bulk_insert(counter, [{"id": 1, "last_number": 0, "pruned_through": 0}])


def downgrade() -> None:
    op.drop_table("change_counter")
    op.drop_index("ix_changes_end_at", table_name="changes")
    op.drop_index("ix_changes_partition_number", table_name="changes")
    op.drop_table("changes")
