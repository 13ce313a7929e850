"""Push: CalDAV calendars of users' own that feeds are pushed into, and what each holds.

Revision ID: 0009_push
Revises: 0008_instance_identity
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_push"
down_revision: str | Sequence[str] | None = "0008_instance_identity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "push_targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("username", sa.String(length=255), nullable=False),
        sa.Column("password_encrypted", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pushed_through", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("fingerprint", sa.String(length=64), server_default="", nullable=False),
        sa.Column("generation", sa.String(length=64), server_default="", nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True)),
        sa.Column("last_push_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text()),
        sa.Column("last_error_at", sa.DateTime(timezone=True)),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
        sa.ForeignKeyConstraint(
            ["feed_id"],
            ["feeds.id"],
            name="fk_push_targets_feed_id_feeds",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_push_targets"),
    )
    op.create_index("ix_push_targets_feed_id", "push_targets", ["feed_id"])
    op.create_index("ix_push_targets_next_attempt_at", "push_targets", ["next_attempt_at"])
    op.create_table(
        "push_objects",
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=512), nullable=False),
        sa.Column("href", sa.Text(), nullable=False),
        sa.Column("local_etag", sa.String(length=64), nullable=False),
        sa.Column("remote_etag", sa.String(length=255)),
        sa.ForeignKeyConstraint(
            ["target_id"],
            ["push_targets.id"],
            name="fk_push_objects_target_id_push_targets",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("target_id", "uid", name="pk_push_objects"),
    )


def downgrade() -> None:
    op.drop_table("push_objects")
    op.drop_index("ix_push_targets_next_attempt_at", table_name="push_targets")
    op.drop_index("ix_push_targets_feed_id", table_name="push_targets")
    op.drop_table("push_targets")
