"""The database schema (SQLAlchemy 2 declarative models). Alembic migrations must match it.

Instants are stored in UTC (`UTCDateTime`) on both SQLite and PostgreSQL; secrets appear only
encrypted (`*_encrypted`) or hashed (`token_hash`).

One module over 400 lines: every table is declared here, so the schema Alembic compares with
the migrations is read in one place.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from feeds.rules import aware_utc

# Deterministic constraint names, identical on every backend, so migrations can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC instant; naive datetimes are refused rather than guessed.

    SQLite has no timezone support, so values go in as UTC and come back marked as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = aware_utc(value, "a stored instant")  # ValueError for a naive datetime
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class SourceTable(Base):
    """A configured upstream account; credentials are a Fernet token (see bridge.crypto).

    The last_* columns summarise the latest fetches of any of its partitions.
    """

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    credentials_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UpstreamTokenTable(Base):
    """Short-lived upstream access tokens (Zoho), kept so a restart does not mint new ones."""

    __tablename__ = "upstream_tokens"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    token_encrypted: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime)


class FeedTable(Base):
    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    history_days: Mapped[int] = mapped_column(Integer)
    horizon_days: Mapped[int] = mapped_column(Integer)
    filters: Mapped[dict[str, Any]] = mapped_column(JSON)
    alarm_minutes: Mapped[int | None] = mapped_column(Integer)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    caldav_password_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    sources: Mapped[list[FeedSourceTable]] = relationship(
        order_by="FeedSourceTable.position", cascade="all, delete-orphan"
    )


class FeedSourceTable(Base):
    """Which sources a feed merges, in the order they were given."""

    __tablename__ = "feed_sources"

    feed_id: Mapped[int] = mapped_column(
        ForeignKey("feeds.id", ondelete="CASCADE"), primary_key=True
    )
    source_id: Mapped[int] = mapped_column(
        ForeignKey("sources.id", ondelete="RESTRICT"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer)


class ShareTable(Base):
    """A second secret URL for a feed, possibly with less detail (scope) and an expiry."""

    __tablename__ = "shares"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    caldav_password_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class FetchStateTable(Base):
    """The outcome of the latest fetches of one partition (a source plus a feed's filters)."""

    __tablename__ = "fetch_states"

    source_id: Mapped[int] = mapped_column(
        ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True
    )
    partition_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The start of the first failed fetch since the last success; cleared by a success.
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The refresh schedule (bridge.jobs): the widest horizon of the feeds reading this
    # partition, when the scheduler should fetch it next, whether a refresh job is queued
    # (and whether it must ignore the once-per-TTL rule), when a subscriber last read it, and
    # a number that rises with every change the fetches merged in (the render caches' key).
    horizon_days: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    force_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    data_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ArchivedSessionTable(Base):
    """Every occurrence ever seen per partition, with the history needed for SEQUENCE/DTSTAMP.

    A partition is one upstream query: a source, narrowed by a feed's filters (`partition_key`,
    "" for the whole source). Each partition has its own archive, so one feed's narrower fetch
    never makes another feed's sessions look vanished.

    `content` is the Session as JSON (bridge.store.archive), i.e. what the feed shows;
    `start_at`/`end_at`/`series_key` repeat parts of it so they can be queried.
    """

    __tablename__ = "archived_sessions"
    __table_args__ = (
        UniqueConstraint(
            "source_id",
            "partition_key",
            "upstream_id",
            name="uq_archived_sessions_partition_upstream",
        ),
        Index("ix_archived_sessions_partition_start", "source_id", "partition_key", "start_at"),
        Index("ix_archived_sessions_partition_series", "source_id", "partition_key", "series_key"),
        Index("ix_archived_sessions_source_upstream", "source_id", "upstream_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    partition_key: Mapped[str] = mapped_column(String(255))
    upstream_id: Mapped[str] = mapped_column(String(255))
    series_key: Mapped[str | None] = mapped_column(String(255))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    sequence: Mapped[int] = mapped_column(Integer)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    vanished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OccurrenceSequenceTable(Base):
    """Per occurrence of a source, the highest SEQUENCE any partition gave it and a hash of
    what that version shows, so a merge of one partition can rank its version against all
    the others in one lookup (bridge.store.archive, *sequence across partitions*)."""

    __tablename__ = "occurrence_sequences"

    source_id: Mapped[int] = mapped_column(
        ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True
    )
    upstream_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer)
    shown_hash: Mapped[str] = mapped_column(String(64))


class ChangeTable(Base):
    """The change log: what each merge changed in a partition, numbered in commit order.

    `number` comes from `ChangeCounterTable` inside the merge's transaction (whose row lock
    orders concurrent merges), so a reader that saw number N has seen every change up to N.
    `kind` is added, changed, cancelled or removed (pruned from the archive). Rows are pruned
    with the archive: with the occurrence they describe.
    """

    __tablename__ = "changes"
    __table_args__ = (Index("ix_changes_partition_number", "source_id", "partition_key", "number"),)

    number: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True
    )
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    partition_key: Mapped[str] = mapped_column(String(255))
    upstream_id: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ChangeCounterTable(Base):
    """One row: the last change number given out, and the last one pruned (a reader asking for
    the changes since an older number must read everything again)."""

    __tablename__ = "change_counter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_number: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    pruned_through: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class WebhookSecretTable(Base):
    """A TagMango source's webhook secret: hashed for the lookup of each delivery, and sealed
    (like credentials) so `source show` can print the URL again."""

    __tablename__ = "webhook_secrets"

    source_id: Mapped[int] = mapped_column(
        ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True
    )
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    secret_encrypted: Mapped[str] = mapped_column(Text)


class WebhookDeliveryTable(Base):
    """Deliveries already handled (upstream may send one twice), kept for a day."""

    __tablename__ = "webhook_deliveries"

    source_id: Mapped[int] = mapped_column(
        ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True
    )
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class RecordingTable(Base):
    """The replay link of a session that has ended, as a webhook reported it; the refresh
    job adds it to the session (`Session.recording_url`)."""

    __tablename__ = "recordings"

    source_id: Mapped[int] = mapped_column(
        ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True
    )
    upstream_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CalDavCollectionTable(Base):
    """The sync state of one CalDAV collection (a feed's or a share link's view): its sync
    number, and a fingerprint of the objects it had then, to see at once that none changed."""

    __tablename__ = "caldav_collections"

    owner: Mapped[str] = mapped_column(String(24), primary_key=True)  # "f12", "s3"
    sync_number: Mapped[int] = mapped_column(BigInteger)
    fingerprint: Mapped[str] = mapped_column(String(64))
    # Tokens before this number are refused: a removal after them has been forgotten.
    pruned_through: Mapped[int] = mapped_column(BigInteger)


class CalDavObjectTable(Base):
    """Each object a CalDAV collection has shown: its ETag and the sync number at which it last
    changed; a removed object stays (deleted_at) until pruned, to report it to sync-collection."""

    __tablename__ = "caldav_objects"
    __table_args__ = (Index("ix_caldav_objects_owner_sync_number", "owner", "sync_number"),)

    owner: Mapped[str] = mapped_column(String(24), primary_key=True)
    uid: Mapped[str] = mapped_column(String(512), primary_key=True)
    etag: Mapped[str] = mapped_column(String(64))
    sync_number: Mapped[int] = mapped_column(BigInteger)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class InstanceSettingTable(Base):
    """A value fixed the first time the service starts and kept for good, such as the domain
    of every event UID (bridge/store/instance_queries.py)."""

    __tablename__ = "instance_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class PushTargetTable(Base):
    """A CalDAV calendar of a user's own that a feed is pushed into (bridge.push).

    The password is sealed like source credentials. `pushed_through` is the change-log number
    the last complete push covered, `fingerprint` a digest of the (uid, etag) pairs the remote
    holds from calbridge, `generation` the feed token generation its join links were signed
    for and `checked_at` when the feed was last compared in full: together the cheap test
    that a push has nothing to send. `next_attempt_at` is when the sweep queues it next (a
    retry after a failure, with backoff by `failures`, or the periodic full comparison).
    """

    __tablename__ = "push_targets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text)
    username: Mapped[str] = mapped_column(String(255))
    password_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    pushed_through: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    fingerprint: Mapped[str] = mapped_column(String(64), default="", server_default="")
    generation: Mapped[str] = mapped_column(String(64), default="", server_default="")
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_push_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class PushObjectTable(Base):
    """An event calbridge created in a push target's calendar: where (href), the ETag of the
    bytes it sent (`local_etag`, as `feeds.calendar_objects` computes it) and the ETag the
    server answered (`remote_etag`, for If-Match). A push only ever overwrites or deletes
    the hrefs listed here."""

    __tablename__ = "push_objects"

    target_id: Mapped[int] = mapped_column(
        ForeignKey("push_targets.id", ondelete="CASCADE"), primary_key=True
    )
    uid: Mapped[str] = mapped_column(String(512), primary_key=True)
    href: Mapped[str] = mapped_column(Text)
    local_etag: Mapped[str] = mapped_column(String(64))
    remote_etag: Mapped[str | None] = mapped_column(String(255))


class ParticipantTable(Base):
    """One participant of a source's roster (bridge.participants) and the feed made for them.

    `token_encrypted` is the feed's token sealed like credentials (bridge.crypto), so that
    `participants list` can print every participant's links for a mail-merge; the feed itself
    still stores only the token's hash. `status` is "active", or why the feed was revoked
    ("left": no longer on the roster, "expired": the subscription ended).
    """

    __tablename__ = "participants"
    __table_args__ = (UniqueConstraint("source_id", "user_id", name="uq_participants_source_user"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    email: Mapped[str] = mapped_column(String(320), default="", server_default="")
    mangoes: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    feed_id: Mapped[int | None] = mapped_column(
        ForeignKey("feeds.id", ondelete="SET NULL"), index=True
    )
    token_encrypted: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ParticipantSyncTable(Base):
    """A source whose participants the workers re-sync from its API roster every
    `every_hours` (bridge.participants.schedule); `enabled` false: `participants schedule
    --off`. The counts are those of the last successful sync; `failures` counts the failed
    ones since, for the retry backoff."""

    __tablename__ = "participant_syncs"

    source_id: Mapped[int] = mapped_column(
        ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True
    )
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    every_hours: Mapped[int] = mapped_column(Integer)
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    updated: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    revoked: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    errors: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
