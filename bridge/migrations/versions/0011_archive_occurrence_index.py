"""Archive: find one occurrence's versions in every partition of its source.

A merge aligns an occurrence's SEQUENCE with the versions other partitions hold of it
(bridge.store.archive, `_versions_elsewhere`), which looks them up by source and upstream id.

Revision ID: 0011_archive_occurrence_index
Revises: 0010_participants
Create Date: 2026-12-08
"""

from collections.abc import Sequence

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


def downgrade() -> None:
    op.drop_index("ix_archived_sessions_source_upstream", table_name="archived_sessions")
