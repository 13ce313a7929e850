"""Persistent state: sources, feeds, share links, the session archive, tokens, rendered feeds.

SQLAlchemy 2 with Alembic migrations; SQLite by default (a WAL-mode file in the instance
folder), PostgreSQL through CALBRIDGE_DATABASE_URL. Modules: `tables` (schema), `rows`
(immutable results), `archive` (the merge rules), `engine` (connections and migrations),
`source_queries`, `feed_queries`, `instance_queries` and the other `*_queries` (its parts),
`repository` (the `Store` facade everything else calls).
"""

from .archive import content_hash, session_content, session_from_content
from .repository import Store
from .rows import (
    FeedRow,
    FetchState,
    MergeResult,
    NotFound,
    PartitionLike,
    PartitionRef,
    ShareRow,
    SourceRow,
    StoreError,
    partition_of,
)

__all__ = [
    "FeedRow",
    "FetchState",
    "MergeResult",
    "NotFound",
    "PartitionLike",
    "PartitionRef",
    "ShareRow",
    "SourceRow",
    "Store",
    "StoreError",
    "content_hash",
    "partition_of",
    "session_content",
    "session_from_content",
]
