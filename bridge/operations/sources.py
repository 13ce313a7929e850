"""Operations on sources: register a TagMango or TrainerCentral account, list and show them,
register a TagMango source's webhooks."""

from __future__ import annotations

from bridge import webhooks
from bridge.operations.common import (
    Conflict,
    OperationError,
    check_origin,
    check_timezone,
    flag,
    get_source,
    required,
    split_ids,
)
from bridge.operations.results import SourceInfo, SourceWebhooks
from bridge.services import Services
from bridge.store import SourceRow
from feeds.model import SourceKind
from feeds.rules import trainercentral_auth


def add_tagmango_source(
    app: Services,
    *,
    name: str,
    token: str,
    whitelabel_host: str,
    api_base: str = "https://api-prod-new.tagmango.com",
    timezone: str = "Asia/Kolkata",
    mangoes: str | list[str] | None = None,
    user: str | None = None,
) -> SourceInfo:
    settings: dict[str, object] = {
        "whitelabel_host": required(whitelabel_host, "--whitelabel-host"),
        "api_base": check_origin(api_base, "--api-base"),
        "timezone": check_timezone(timezone),
        "mangoes": split_ids(mangoes),
        "user": user or None,
    }
    credentials = {"token": required(token, "--token")}
    return _add_source(app, name, SourceKind.TAGMANGO, settings, credentials)


def add_trainercentral_source(
    app: Services,
    *,
    name: str,
    org_id: str,
    academy_url: str,
    filter: str = "1",
    access_token: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    refresh_token: str | None = None,
    accounts_url: str = "https://accounts.zoho.com",
) -> SourceInfo:
    if str(filter) not in ("1", "5"):
        raise OperationError(
            f"--filter must be 1 (your sessions) or 5 (the academy's), got {filter}"
        )
    given = {
        "access_token": access_token,
        "client_id": client_id,
        "client_secret": client_secret,
        "refresh_token": refresh_token,
    }
    credentials = {name: value for name, value in given.items() if value}
    trainercentral_auth(credentials, flag, OperationError)
    settings: dict[str, object] = {
        "org_id": required(org_id, "--org-id"),
        "academy_url": check_origin(academy_url, "--academy-url"),
        "filter": str(filter),
        "accounts_url": check_origin(accounts_url, "--accounts-url"),
    }
    return _add_source(app, name, SourceKind.TRAINERCENTRAL, settings, credentials)


def _add_source(
    app: Services,
    name: str,
    kind: SourceKind,
    settings: dict[str, object],
    credentials: dict[str, str],
) -> SourceInfo:
    name = required(name, "--name")
    if app.store.source_by_name(name) is not None:
        raise Conflict(f"a source named {name!r} already exists")
    source = app.store.add_source(name, kind.value, settings, credentials)
    return source_info(app, source, create_webhook=True)


def source_info(app: Services, source: SourceRow, *, create_webhook: bool = False) -> SourceInfo:
    """A source without its credentials (a TagMango source with its webhook URL, once it has
    one: `source add`, `source show` and `source webhooks` create it)."""
    return SourceInfo.of_row(source, webhooks.webhook_url(app, source, create=create_webhook))


def show_source(app: Services, name: str) -> SourceInfo:
    return source_info(app, get_source(app, name), create_webhook=True)


def register_webhooks(app: Services, name: str) -> SourceWebhooks:
    """Register the TagMango source's webhook URL for the webinar events."""
    source = get_source(app, name)
    if source.kind != SourceKind.TAGMANGO:
        raise OperationError(
            f"source {name!r} is a {source.kind} source; only TagMango sources have webhooks"
        )
    events = webhooks.register(app, source)
    return SourceWebhooks.of(source_info(app, source, create_webhook=True), tuple(events))


def list_sources(app: Services) -> list[SourceInfo]:
    return [source_info(app, source) for source in app.store.list_sources()]
