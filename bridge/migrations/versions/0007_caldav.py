"""CalDAV: each feed's and share link's password (hashed), and each collection's sync state.

Revision ID: 0007_caldav
Revises: 0006_webhooks
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_caldav"
down_revision: str | Sequence[str] | None = "0006_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing feeds get theirs when their subscribe page is next opened (the password is
    # derived from the token, which only the page's visitor holds).
    for table in ("feeds", "shares"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("caldav_password_hash", sa.String(length=64)))
    op.create_table(
        "caldav_collections",
        sa.Column("owner", sa.String(length=24), nullable=False),
        sa.Column("sync_number", sa.BigInteger(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("pruned_through", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("owner", name="pk_caldav_collections"),
    )
    op.create_table(
        "caldav_objects",
        sa.Column("owner", sa.String(length=24), nullable=False),
        sa.Column("uid", sa.String(length=512), nullable=False),
        sa.Column("etag", sa.String(length=64), nullable=False),
        sa.Column("sync_number", sa.BigInteger(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("owner", "uid", name="pk_caldav_objects"),
    )
    op.create_index(
        "ix_caldav_objects_owner_sync_number", "caldav_objects", ["owner", "sync_number"]
    )


def downgrade() -> None:
    op.drop_index("ix_caldav_objects_owner_sync_number", table_name="caldav_objects")
    op.drop_table("caldav_objects")
    op.drop_table("caldav_collections")
    for table in ("shares", "feeds"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("caldav_password_hash")
