"""Participant syncs: sources whose participants the workers re-sync from the API roster.

Revision ID: 0012_participant_syncs
Revises: 0011_archive_occurrence_index
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_participant_syncs"
# Self-contained: it only adds its own table, so it can follow whichever revision is the head.
down_revision: str | Sequence[str] | None = "0011_archive_occurrence_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "participant_syncs",
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("every_hours", sa.Integer(), nullable=False),
        sa.Column("next_due_at", sa.DateTime(timezone=True)),
        sa.Column("last_run_at", sa.DateTime(timezone=True)),
        sa.Column("last_success_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text()),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created", sa.Integer(), server_default="0", nullable=False),
        sa.Column("updated", sa.Integer(), server_default="0", nullable=False),
        sa.Column("revoked", sa.Integer(), server_default="0", nullable=False),
        sa.Column("errors", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name="fk_participant_syncs_source_id_sources",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("source_id", name="pk_participant_syncs"),
    )
    op.create_index("ix_participant_syncs_next_due_at", "participant_syncs", ["next_due_at"])


def downgrade() -> None:
    op.drop_index("ix_participant_syncs_next_due_at", table_name="participant_syncs")
    op.drop_table("participant_syncs")
