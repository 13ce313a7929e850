"""Participants: each source's roster and the feed made for each participant.

Revision ID: 0010_participants
Revises: 0009_push
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_participants"
# Self-contained: it only adds its own table, so it can follow whichever revision is the head.
down_revision: str | Sequence[str] | None = "0009_push"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "participants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=200), server_default="", nullable=False),
        sa.Column("email", sa.String(length=320), server_default="", nullable=False),
        sa.Column("mangoes", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=True),
        sa.Column("token_encrypted", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name="fk_participants_source_id_sources",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["feed_id"], ["feeds.id"], name="fk_participants_feed_id_feeds", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_participants"),
        sa.UniqueConstraint("source_id", "user_id", name="uq_participants_source_user"),
    )
    op.create_index("ix_participants_feed_id", "participants", ["feed_id"])


def downgrade() -> None:
    op.drop_index("ix_participants_feed_id", table_name="participants")
    op.drop_table("participants")
