"""The operations an operator can perform, shared by the CLI (bridge.cli, bridge.cli_sources),
the admin API (bridge.web.api) and the subscribe pages (bridge.web.pages).

Each operation validates its input and raises `OperationError` with one clear sentence; the
callers only translate that into an exit code or a JSON error. `NotFound` is the store's
(bridge.store.rows), an OperationError and a StoreError at once; `Conflict` is the
OperationError of a request that clashes with the current state.

The operations return the frozen dataclasses of `results` (SourceInfo, FeedInfo, FeedCreated,
ShareCreated...): the CLI prints them, the admin API answers their `to_json()`.

Modules: `common` (errors, input checks, lookups), `results`, `sources`, `feeds`, `shares`.
Callers use this package's names: `from bridge import operations; operations.create_feed(...)`.
"""

from bridge.operations.common import (
    Conflict,
    NotFound,
    OperationError,
    check_days,
    check_origin,
    check_timezone,
    get_feed,
    get_source,
    split_ids,
)
from bridge.operations.feeds import (
    check_narrows,
    create_feed,
    export_feed,
    feed_changes,
    feed_info,
    list_feeds,
    revoke_feed,
    rotate_feed,
    show_feed,
    size_warnings,
)
from bridge.operations.results import (
    FeedChange,
    FeedChanges,
    FeedCreated,
    FeedDetails,
    FeedFilters,
    FeedInfo,
    JsonObject,
    ShareCreated,
    ShareInfo,
    SourceInfo,
    SourceWebhooks,
    ToJson,
)
from bridge.operations.shares import parse_expiry, revoke_share, share_feed, share_info
from bridge.operations.sources import (
    add_tagmango_source,
    add_trainercentral_source,
    list_sources,
    register_webhooks,
    show_source,
    source_info,
)

__all__ = [
    "Conflict",
    "FeedChange",
    "FeedChanges",
    "FeedCreated",
    "FeedDetails",
    "FeedFilters",
    "FeedInfo",
    "JsonObject",
    "NotFound",
    "OperationError",
    "ShareCreated",
    "ShareInfo",
    "SourceInfo",
    "SourceWebhooks",
    "ToJson",
    "add_tagmango_source",
    "add_trainercentral_source",
    "check_days",
    "check_narrows",
    "check_origin",
    "check_timezone",
    "create_feed",
    "export_feed",
    "feed_changes",
    "feed_info",
    "get_feed",
    "get_source",
    "list_feeds",
    "list_sources",
    "parse_expiry",
    "register_webhooks",
    "revoke_feed",
    "revoke_share",
    "rotate_feed",
    "share_feed",
    "share_info",
    "show_feed",
    "show_source",
    "size_warnings",
    "source_info",
    "split_ids",
]
