"""TagMango webhooks: each source's secret, the deliveries already handled, replay links.

Revision ID: 0006_webhooks
Revises: 0005_change_log
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_webhooks"
down_revision: str | Sequence[str] | None = "0005_change_log"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _source_id(table: str) -> list[sa.Column[int] | sa.ForeignKeyConstraint]:
    return [
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"], ["sources.id"], name=f"fk_{table}_source_id_sources", ondelete="CASCADE"
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "webhook_secrets",
        *_source_id("webhook_secrets"),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("secret_encrypted", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("source_id", name="pk_webhook_secrets"),
        sa.UniqueConstraint("secret_hash", name="uq_webhook_secrets_secret_hash"),
    )
    op.create_table(
        "webhook_deliveries",
        *_source_id("webhook_deliveries"),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source_id", "digest", name="pk_webhook_deliveries"),
    )
    op.create_index("ix_webhook_deliveries_received_at", "webhook_deliveries", ["received_at"])
    op.create_table(
        "recordings",
        *_source_id("recordings"),
        sa.Column("upstream_id", sa.String(length=255), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source_id", "upstream_id", name="pk_recordings"),
    )


def downgrade() -> None:
    op.drop_table("recordings")
    op.drop_index("ix_webhook_deliveries_received_at", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_secrets")
