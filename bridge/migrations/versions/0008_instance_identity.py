"""Instance settings: values fixed the first time the service starts (the UID domain).

`instance_settings` holds one row per key, written once (insert-if-absent) and never changed
by the service afterwards; see bridge/store/instance_queries.py.

Revision ID: 0008_instance_identity
Revises: 0007_caldav
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_instance_identity"
down_revision: str | Sequence[str] | None = "0007_caldav"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "instance_settings",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_instance_settings"),
    )


def downgrade() -> None:
    op.drop_table("instance_settings")
