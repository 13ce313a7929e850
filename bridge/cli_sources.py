"""`calbridge source …`: register, list and show upstream sources, and their webhooks."""

from __future__ import annotations

from typing import Any

import click

from bridge import operations
from bridge.cli_support import emit, json_option, load_services, reported_errors
from bridge.operations import OperationError


@click.group()
def source() -> None:
    """Register and list upstream sources (credentials are stored encrypted)."""


@source.group("add")
def source_add() -> None:
    """Register a TagMango or TrainerCentral source."""


@source_add.command("tagmango")
@click.option("--name", required=True, help="A name for this source, used by `feed create`.")
@click.option("--token", required=True, help="The TagMango API key.")
@click.option("--whitelabel-host", required=True, help="The dashboard host, e.g. me.tagmango.com.")
@click.option("--api-base", default="https://api-prod-new.tagmango.com", show_default=True)
@click.option("--timezone", default="Asia/Kolkata", show_default=True, help="The creator's zone.")
@click.option("--mangoes", default=None, help="Only these products (comma-separated ids).")
@click.option("--user", default=None, help="Only this participant's calls (TagMango user id).")
@json_option
def source_add_tagmango(as_json: bool, **options: Any) -> None:
    """Register a TagMango source (workshop video calls)."""
    with reported_errors():
        result = operations.add_tagmango_source(load_services(), **options)
    emit(result, as_json, lambda r: f"added TagMango source {r.name!r} (id {r.id})")


@source_add.command("trainercentral")
@click.option("--name", required=True, help="A name for this source, used by `feed create`.")
@click.option("--org-id", required=True, help="The academy's org id (the number in its URL).")
@click.option("--academy-url", required=True, help="e.g. https://myacademy.trainercentral.com")
@click.option(
    "--filter",
    type=click.Choice(["1", "5"]),
    default="1",
    show_default=True,
    help="1: your sessions; 5: the whole academy's (admin role).",
)
@click.option("--access-token", default=None, help="A fixed Zoho access token.")
@click.option("--client-id", default=None, help="Zoho OAuth client id (refresh-token flow).")
@click.option("--client-secret", default=None, help="Zoho OAuth client secret.")
@click.option("--refresh-token", default=None, help="Zoho OAuth refresh token.")
@click.option(
    "--accounts-url",
    default="https://accounts.zoho.com",
    show_default=True,
    help="Your Zoho accounts server (data centre).",
)
@json_option
def source_add_trainercentral(as_json: bool, **options: Any) -> None:
    """Register a TrainerCentral source (live workshops)."""
    with reported_errors():
        result = operations.add_trainercentral_source(load_services(), **options)
    emit(result, as_json, lambda r: f"added TrainerCentral source {r.name!r} (id {r.id})")


@source.command("list")
@json_option
def source_list(as_json: bool) -> None:
    """List the registered sources (never their credentials)."""
    rows = operations.list_sources(load_services())
    emit(
        rows,
        as_json,
        lambda rs: "\n".join(f"{r.id}\t{r.kind}\t{r.name}" for r in rs) or "no sources",
    )


@source.command("show")
@click.argument("name")
@json_option
def source_show(name: str, as_json: bool) -> None:
    """Show one source (never its credentials), with its webhook URL if it has one."""
    with reported_errors():
        result = operations.show_source(load_services(), name)
    emit(result, as_json)


@source.command("webhooks")
@click.argument("name")
@click.option(
    "--register",
    is_flag=True,
    help="Register the URL with TagMango for the webinar events (created, recurring, completed).",
)
@json_option
def source_webhooks(name: str, register: bool, as_json: bool) -> None:
    """Print a TagMango source's secret webhook URL; --register registers it with TagMango.

    Without webhooks, changes upstream reach the feeds at the next refresh (CALBRIDGE_CACHE_TTL)."""
    app = load_services()
    result: operations.SourceInfo
    with reported_errors():
        if register:
            result = operations.register_webhooks(app, name)
        else:
            result = operations.show_source(app, name)
            if result.webhook_url is None:
                raise OperationError(f"source {name!r} is not a TagMango source: no webhooks")
    if as_json:
        emit(result, True)
    elif isinstance(result, operations.SourceWebhooks):
        click.echo(f"registered {result.webhook_url} for {', '.join(result.registered)}")
    else:
        click.echo(result.webhook_url)
