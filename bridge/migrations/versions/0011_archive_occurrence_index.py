"""Archive: one SEQUENCE per occurrence across the partitions of its source.

`occurrence_sequences` keeps, per occurrence, the highest sequence any partition gave it and
what that version shows (bridge.store.archive); the index finds an occurrence's rows in
every partition (the archive's prune forgets an occurrence once no partition holds it).
Each archived occurrence starts with its highest sequence and an unknown version (its next
change in any partition goes one above).

Revision ID: 0011_archive_occurrence_index
Revises: 0010_participants
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_archive_occurrence_index"
down_revision: str | Sequence[str] | None = "0010_participants"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_archived_sessions_source_upstream",
        "archived_sessions",
        ["source_id", "upstream_id"],
    )
    op.create_table(
        "occurrence_sequences",
        sa.Column(
            "source_id",
            sa.Integer(),
            sa.ForeignKey("sources.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("upstream_id", sa.String(255), primary_key=True),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("shown_hash", sa.String(64), nullable=False),
    )
    op.execute(
        "INSERT INTO occurrence_sequences (source_id, upstream_id, sequence, shown_hash) "
        "SELECT source_id, upstream_id, MAX(sequence), '' FROM archived_sessions "
        "GROUP BY source_id, upstream_id"
    )


def downgrade() -> None:
    op.drop_table("occurrence_sequences")
    op.drop_index("ix_archived_sessions_source_upstream", table_name="archived_sessions")
