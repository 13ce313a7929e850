"""Fetch states remember when the current outage began.

`fetch_states.failing_since` is set by the first failed fetch after a success and cleared by
the next success, so `X-Calbridge-Stale` counts from the first failure in every worker and
across restarts. A partition failing at upgrade time is dated from its latest error (the
first one is not known).

Revision ID: 0003_fetch_failing_since
Revises: 0002
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_fetch_failing_since"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("fetch_states") as batch_op:
        batch_op.add_column(sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE fetch_states SET failing_since = last_error_at WHERE last_error_at IS NOT NULL "
        "AND (last_success_at IS NULL OR last_error_at > last_success_at)"
    )


def downgrade() -> None:
    with op.batch_alter_table("fetch_states") as batch_op:
        batch_op.drop_column("failing_since")
