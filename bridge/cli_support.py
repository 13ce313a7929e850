"""What every `calbridge` command shares: loading the services, one-line errors, output.

Every error an operator can cause or meet is one clear line on stderr and a non-zero exit.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import click
from flask import Flask

from bridge.app import create_app
from bridge.feed_views import FeedUnavailable
from bridge.operations import OperationError
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


def emit(result: Any, as_json: bool, human: Callable[[Any], str] | None = None) -> None:
    if as_json or human is None:
        click.echo(json.dumps(result, indent=None if as_json else 2, ensure_ascii=False))
    else:
        click.echo(human(result))


def links_text(result: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"{result.get('name') or 'share'} (id {result['id']})",
            f"  calendar: {result['ics_url']}",
            f"  webcal:   {result['webcal_url']}",
            f"  page:     {result['page_url']}",
        ]
    )


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
