"""What every `calbridge` command shares: loading the services, one-line errors, output.

Every error an operator can cause or meet is one clear line on stderr and a non-zero exit.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import NoReturn, TypeVar

import click
from flask import Flask

from bridge.app import create_app
from bridge.feed_views import FeedUnavailable
from bridge.operations import FeedCreated, OperationError, ShareCreated, ToJson
from bridge.services import Services
from bridge.settings import SettingsError
from bridge.store import StoreError
from bridge.upstream.errors import UpstreamError


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one clear error line and exit non-zero."""
    click.echo(f"calbridge: error: {message}", err=True)
    sys.exit(code)


def create_app_or_fail() -> Flask:
    try:
        return create_app()
    except SettingsError as error:
        fail(str(error))


def load_services() -> Services:
    """The app's services for a command run outside a web request."""
    return create_app_or_fail().extensions["calbridge"]


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn the errors an operator can cause or meet into one line and exit 1."""
    try:
        yield
    except (OperationError, StoreError, UpstreamError) as error:
        fail(str(error))
    except FeedUnavailable as error:
        fail(error.reason)


Result = TypeVar("Result", bound=ToJson | Sequence[ToJson])


def emit(result: Result, as_json: bool, human: Callable[[Result], str] | None = None) -> None:
    """Print an operation's result: its JSON (one line with --json, indented without), or
    what `human` makes of it."""
    if as_json or human is None:
        if isinstance(result, Sequence):
            data: object = [_json(item) for item in result]
        else:
            data = _json(result)
        click.echo(json.dumps(data, indent=None if as_json else 2, ensure_ascii=False))
    else:
        click.echo(human(result))


def _json(item: object) -> object:
    """An operation result's JSON (a plain dict or list passes as it is)."""
    to_json = getattr(item, "to_json", None)
    return to_json() if to_json is not None else item


def links_text(result: FeedCreated | ShareCreated) -> str:
    name = result.name if isinstance(result, FeedCreated) else "share"
    return "\n".join(
        [
            f"{name} (id {result.id})",
            f"  calendar: {result.links.ics_url}",
            f"  webcal:   {result.links.webcal_url}",
            f"  page:     {result.links.page_url}",
        ]
    )


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
