"""The `calbridge` command line: feeds and share links, checks, servers and the demo here,
sources in bridge.cli_sources, the shared plumbing in bridge.cli_support.

The commands, their flags and their `--json` output are a stable interface (scripts use them).
Every error is one clear line on stderr and a non-zero exit; every command has --help.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from bridge import operations
from bridge.cli_participants import participants
from bridge.cli_push import push
from bridge.cli_sources import source
from bridge.cli_support import (
    create_app_or_fail,
    emit,
    fail,
    json_option,
    links_text,
    load_services,
    reported_errors,
)
from bridge.demo import port_is_free, start_demo
from bridge.logs import configure_service_logging
from bridge.serve import serve
from bridge.simulator.combined import build_simulators
from bridge.simulator.server import start_server
from feeds.lint import lint
from feeds.model import Scope


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="calbridge")
def main() -> None:
    """calbridge: calendar feeds for TagMango and TrainerCentral live sessions."""


main.add_command(source)
main.add_command(push)
main.add_command(participants)


# -- feeds ---------------------------------------------------------------------------------


@main.group()
def feed() -> None:
    """Create, share, rotate, revoke and export feeds."""


@feed.command("create")
@click.option("--name", required=True, help="The calendar's name, as subscribers see it.")
@click.option("--source", "sources", multiple=True, required=True, help="A source name (repeat).")
@click.option("--timezone", default="UTC", show_default=True, help="IANA zone of the feed.")
@click.option(
    "--history-days", type=int, default=30, show_default=True, help="Keep past sessions this long."
)
@click.option(
    "--horizon-days",
    type=int,
    default=180,
    show_default=True,
    help="Include sessions up to this far ahead.",
)
@click.option("--user", default=None, help="A participant's feed: only this TagMango user's calls.")
@click.option("--mangoes", default=None, help="Only these TagMango products (comma-separated).")
@click.option(
    "--alarm",
    "alarm_minutes",
    type=int,
    default=10,
    show_default=True,
    help="Reminder minutes before each session (0: none).",
)
@json_option
def feed_create(as_json: bool, sources: tuple[str, ...], **options: Any) -> None:
    """Create a feed; prints its secret URLs (shown only now and on rotate)."""
    with reported_errors():
        result = operations.create_feed(load_services(), sources=list(sources), **options)
    emit(result, as_json, links_text)


@feed.command("list")
@json_option
def feed_list(as_json: bool) -> None:
    """List feeds (their URLs are secret and not stored; rotate to get new ones)."""
    rows = operations.list_feeds(load_services())

    def human(rs: list[operations.FeedInfo]) -> str:
        lines = [
            f"{r.id}\t{r.name}\t{','.join(r.sources)}\t{r.timezone}"
            + ("\trevoked" if r.revoked_at else "")
            for r in rs
        ]
        return "\n".join(lines) or "no feeds"

    emit(rows, as_json, human)


@feed.command("show")
@click.argument("feed_id", type=int)
@json_option
def feed_show(feed_id: int, as_json: bool) -> None:
    """Show one feed and its share links, and any warning about its size."""
    with reported_errors():
        result = operations.show_feed(load_services(), feed_id)
    emit(result, as_json)
    if not as_json:
        for warning in result.warnings:
            click.echo(f"calbridge: warning: {warning}", err=True)


@feed.command("rotate")
@click.argument("feed_id", type=int)
@json_option
def feed_rotate(feed_id: int, as_json: bool) -> None:
    """Give a feed a new secret URL; the old one stops working at once."""
    with reported_errors():
        result = operations.rotate_feed(load_services(), feed_id)
    emit(result, as_json, links_text)


@feed.command("revoke")
@click.argument("feed_id", type=int)
@json_option
def feed_revoke(feed_id: int, as_json: bool) -> None:
    """Revoke a feed: its URLs answer 410 and its join links stop working."""
    with reported_errors():
        result = operations.revoke_feed(load_services(), feed_id)
    emit(result, as_json, lambda r: f"revoked feed {r.id} ({r.name})")


@feed.command("export")
@click.argument("feed_id", type=int)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Write to this file instead of standard output.",
)
@click.option("--expand", is_flag=True, help="Write every occurrence as a single event.")
def feed_export(feed_id: int, output: str | None, expand: bool) -> None:
    """Render a feed to .ics without a server (fetching upstream if needed)."""
    with reported_errors():
        body = operations.export_feed(load_services(), feed_id, expand=expand)
    if output is None:
        sys.stdout.buffer.write(body)
        return
    try:
        with open(output, "wb") as handle:
            handle.write(body)
    except OSError as error:
        fail(f"cannot write {output}: {error.strerror}")
    click.echo(f"wrote {output} ({len(body)} bytes)", err=True)


@feed.command("share")
@click.argument("feed_id", type=int)
@click.option(
    "--scope",
    type=click.Choice([s.value for s in Scope]),
    default="busy",
    show_default=True,
    help="full: join links; no-links: titles only; busy: busy only.",
)
@click.option("--expires", default=None, help="Expiry date (YYYY-MM-DD) or ISO instant.")
@json_option
def feed_share(feed_id: int, scope: str, expires: str | None, as_json: bool) -> None:
    """Create a share link for a feed with a narrower scope."""
    with reported_errors():
        result = operations.share_feed(load_services(), feed_id, scope=scope, expires=expires)
    emit(result, as_json, links_text)


@main.command("reencrypt")
def reencrypt_command() -> None:
    """Re-encrypt stored credentials with CALBRIDGE_SECRET_KEY after a key rotation."""
    with reported_errors():
        count = load_services().store.reencrypt_secrets()
    click.echo(
        f"re-encrypted {count} stored secrets with the current key. Keep the old key in "
        "CALBRIDGE_SECRET_KEY_FALLBACKS while join links already in calendars should work."
    )


# -- servers -------------------------------------------------------------------------------


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Web processes (gunicorn workers).",
)
@click.option(
    "--threads",
    type=click.IntRange(1, 256),
    default=8,
    show_default=True,
    help="Request threads per web process.",
)
@click.option(
    "--no-worker",
    is_flag=True,
    help="Serve the web only; run `calbridge worker` for the background refreshes.",
)
def serve_command(host: str, port: int, workers: int, threads: int, no_worker: bool) -> None:
    """Serve feeds, pages, join links and the admin API (production, gunicorn).

    Each web process also runs the background refresh jobs, unless --no-worker is given."""

    configure_service_logging()
    app = create_app_or_fail()
    serve(app, host, port, workers=workers, threads=threads, run_jobs=not no_worker)


@main.command("worker")
@click.option(
    "--threads",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Jobs run at once in this process.",
)
def worker_command(threads: int) -> None:
    """Run the background refresh jobs only (no web), until SIGINT or SIGTERM.

    Every worker and web process shares the queue named by CALBRIDGE_QUEUE_URL."""

    configure_service_logging()
    app_services = load_services()
    app_services.jobs.threads = threads
    click.echo(f"calbridge worker: {threads} threads on {app_services.queue.describe()}")
    app_services.jobs.run()


# -- checks --------------------------------------------------------------------------------


@main.command("lint")
@click.argument("path", metavar="FILE")
def lint_command(path: str) -> None:
    """Check an .ics FILE for what breaks calendar clients ("-" reads standard input).

    Prints one line per problem, FILE:LINE: rule: message. Exits 1 when there are errors,
    0 when there are none (warnings, such as size, are printed but don't fail), and 2 when
    FILE cannot be read.
    """

    try:
        if path == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as handle:
                data = handle.read()
    except OSError as error:
        fail(f"cannot read {path}: {error.strerror or error}", code=2)
    problems = lint(data)
    for problem in problems:
        where = path if problem.line is None else f"{path}:{problem.line}"
        severity = "warning: " if problem.severity == "warning" else ""
        click.echo(f"{where}: {problem.rule}: {severity}{problem.message}")
    errors = sum(problem.severity == "error" for problem in problems)
    if errors:
        sys.exit(1)
    warnings = len(problems)
    note = f" ({warnings} warning{'s' if warnings > 1 else ''})" if warnings else ""
    click.echo(f"{path}: ok{note}")


@main.command("simulate")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8001, show_default=True)
def simulate_command(host: str, port: int) -> None:
    """Run the TagMango, TrainerCentral and Zoho simulators on one port until Ctrl-C."""

    simulators = build_simulators()
    try:
        running = start_server(simulators, host, port)
    except OSError as error:
        fail(f"cannot listen on {host}:{port}: {error.strerror}")
    base = f"http://{host}:{running.port}"
    click.echo(f"simulators listening on {base}")
    for kind, options in simulators.source_options(base).items():
        flags = " ".join(f"--{key.replace('_', '-')} {value}" for key, value in options.items())
        click.echo(f"  calbridge source add {kind} --name {kind}-sim {flags}")
    try:
        running.thread.join()
    except KeyboardInterrupt:
        running.stop()


@main.command("demo")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
def demo_command(port: int) -> None:
    """Simulated upstreams and a seeded bridge in one process; prints the feed URLs."""

    if not port_is_free(port):
        fail(f"port {port} is already in use; try `calbridge demo --port {port + 1}`")
    with tempfile.TemporaryDirectory(prefix="calbridge-demo-") as directory:
        demo = start_demo(Path(directory), port)
        click.echo(demo.describe())
        try:
            demo.bridge_server.thread.join()
        except KeyboardInterrupt:
            click.echo("stopping")
        finally:
            demo.stop()
