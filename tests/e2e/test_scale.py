"""calbridge at scale, as whole processes on PostgreSQL: more web and worker processes never
mean more upstream requests, a worker killed mid-refresh loses nothing, subscribers are
answered at once from stored data whatever upstream does, and jobs round-trip through every
queue backend.

Each test uses its own PostgreSQL database and (when it needs one) its own Redis db number, so
the tests can run in parallel under xdist.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.jobs.schedule import CRASH_RETRY
from bridge.simulator.tagmango import Fault, SimCall
from tests.e2e.conftest import create_feed, feed_window
from tests.e2e.processes import BridgeEnv, BridgeServer, BridgeWorker, free_port
from tests.e2e.scale_support import (
    Arrival,
    Upstream,
    database_rows,
    fetch_states,
    needs_postgres,
    postgres_install,
    probe,
    recorded_upstream,
    redis_queue,
    refresh_rounds,
    service_errors,
    subscribe,
    timed_get,
    via,
    wait_for_data,
    wait_until,
)
from tests.e2e.test_service import as_tuples, away_from, upstream_occurrences
from tests.ical_validators import validate_feed

pytestmark = needs_postgres


def scale_feeds(env: BridgeEnv) -> list[dict[str, Any]]:
    """Feeds over four partitions: TagMango whole, TagMango for two participants (--user),
    TrainerCentral; two feeds share partitions (as feeds of one academy do)."""

    def tagmango_feed(*extra: str) -> dict[str, Any]:
        return env.cli_json(
            "feed", "create", "--name", "Participant", "--source", "tagmango-sim", *extra
        )

    return [
        create_feed(env),
        tagmango_feed("--user", "user-alice"),
        tagmango_feed("--user", "user-bob"),
        env.cli_json("feed", "create", "--name", "Academy", "--source", "trainercentral-sim"),
    ]


# -- 1. more processes, no more upstream requests ------------------------------------------

TTL = 2
WINDOW = 12.0


@contextmanager
def deployment(
    directory: Path, queue_url: str, *, web: int, workers: int
) -> Iterator[tuple[Upstream, list[list[str]]]]:
    """An installation with its own upstream, database and queue, serving `scale_feeds`:
    `web` serve processes with embedded job threads when `workers` is 0, else `web` serve
    --no-worker and `workers` worker processes. Yields the upstream and, for each feed, its
    URL on every web process, once every feed has data."""
    with ExitStack() as stack:
        upstream = stack.enter_context(recorded_upstream())
        env = stack.enter_context(
            postgres_install(directory, upstream, ttl=TTL, queue_url=queue_url)
        )
        feeds = scale_feeds(env)
        servers = [BridgeServer(env, port=env.port if i == 0 else free_port()) for i in range(web)]
        for server in servers:
            stack.callback(server.stop)
            server.launch(*(["--no-worker"] if workers else []))
        for number in range(workers):
            worker = BridgeWorker(env, f"worker-{number}")
            stack.callback(worker.stop)
            worker.start()
        for server in servers:
            server.wait_healthy()
        for feed in feeds:
            wait_for_data(feed["ics_url"])
        yield upstream, [[via(feed["ics_url"], s.port) for s in servers] for feed in feeds]


def requests_per_second(arrivals: list[Arrival]) -> tuple[float, dict[str, list[float]]]:
    """Upstream requests per second, summed over partitions, each measured between its first
    and its last refresh start in the window (see the test for why); and the rounds."""
    rounds = refresh_rounds(arrivals)
    rate = 0.0
    for partition, starts in rounds.items():
        assert len(starts) >= 3, f"{partition}: only {len(starts)} refreshes in {WINDOW} s"
        first, last = starts[0], starts[-1]
        sent = [a for a in arrivals if a.partition == partition and first <= a.at < last]
        rate += len(sent) / (last - first)
    return rate, rounds


def test_four_web_and_two_worker_processes_make_no_more_upstream_requests(tmp_path: Path) -> None:
    # Both deployments run at the same time, each with its own upstream, database and Redis
    # db, so they share the machine's load; subscribers poll every feed equally often in both.
    with ExitStack() as stack:
        single_queue = stack.enter_context(redis_queue(1))
        multi_queue = stack.enter_context(redis_queue(2))
        single, single_feeds = stack.enter_context(
            deployment(tmp_path / "single", single_queue, web=1, workers=0)
        )
        multi, multi_feeds = stack.enter_context(
            deployment(tmp_path / "multi", multi_queue, web=4, workers=2)
        )
        with ThreadPoolExecutor(2) as pool:
            started = time.monotonic()
            answers = list(pool.map(subscribe, [single_feeds, multi_feeds], [WINDOW, WINDOW]))
            ended = time.monotonic()
    for name, statuses in zip(("single", "multi"), answers, strict=True):
        assert set(statuses) == {200}, (
            f"{name}: subscribers got {sorted(set(statuses))}\n{service_errors(tmp_path / name)}"
        )

    # Where a window cuts the refresh cycle decides whether one more round per partition falls
    # inside it (5 or 6 rounds of ~2.2 s in 12 s), so raw counts would differ by up to one
    # round per partition by chance. Measured between each partition's first and last refresh
    # start, a rate counts whole rounds only: that is what is compared, with no slack.
    single_rate, single_rounds = requests_per_second(single.recorder.arrivals(started, ended))
    multi_rate, multi_rounds = requests_per_second(multi.recorder.arrivals(started, ended))
    assert set(multi_rounds) == set(single_rounds) and len(single_rounds) == 4, (
        f"both deployments should refresh the same 4 partitions: {single_rounds} {multi_rounds}"
    )
    # The rule behind it, which holds in every window: a partition's refresh starts only once
    # its last good data is a TTL old, so two of its refreshes never start within a TTL.
    for name, rounds in (("single", single_rounds), ("multi", multi_rounds)):
        for partition, starts in rounds.items():
            gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
            assert min(gaps) >= TTL, f"{name}: {partition} refreshed {min(gaps):.2f} s apart"
    assert multi_rate <= single_rate, (
        f"4 web + 2 worker processes sent {multi_rate:.2f} upstream requests/s, one serve "
        f"{single_rate:.2f}/s (refresh starts: single {single_rounds}, multi {multi_rounds})"
    )


# -- 2. a worker killed mid-refresh -----------------------------------------------------------

RENAMED = "Moved online after the outage"
ADDED = "Added while the worker was down"


def test_a_worker_killed_mid_refresh_leaves_every_feed_right(tmp_path: Path) -> None:
    with ExitStack() as stack:
        upstream = stack.enter_context(recorded_upstream())
        queue_url = stack.enter_context(redis_queue(3))
        env = stack.enter_context(postgres_install(tmp_path, upstream, ttl=2, queue_url=queue_url))
        feed = create_feed(env)
        url = feed["ics_url"]
        server = BridgeServer(env)
        stack.callback(server.stop)
        server.start("--no-worker")
        first = BridgeWorker(env, "worker-1")
        stack.callback(first.stop)
        first.start()
        wait_for_data(url)

        # The next refresh (due a TTL later, asked for by the subscriber) reads slowly: once
        # its first page has arrived, its answer is a second away and the worker is mid-fetch.
        tagmango = upstream.simulators.tagmango
        tagmango.latency = 1.0
        slowed = time.monotonic()

        def slow_round() -> Arrival | None:
            httpx.get(url, timeout=30)
            return next(
                (a for a in upstream.recorder.arrivals(slowed) if a.upstream == "tagmango"), None
            )

        wait_until(lambda: slow_round() is not None, 15, "a slow TagMango refresh")
        first.kill()
        killed_round = slow_round()
        assert killed_round is not None and killed_round.starts_round
        later_pages = [
            a
            for a in upstream.recorder.arrivals(slowed)
            if a.args.get("startDate") == killed_round.args["startDate"] and a is not killed_round
        ]
        assert not later_pages, f"the refresh finished before the kill: {later_pages}"

        # Upstream changes while no worker runs; then another worker starts.
        renamed, added = change_upstream(upstream)
        tagmango.latency = 0.0
        second = BridgeWorker(env, "worker-2")
        stack.callback(second.stop)
        second.start()

        def changed() -> bool:
            body = httpx.get(url, timeout=30).content
            return RENAMED.encode() in body and ADDED.encode() in body

        took = wait_until(changed, CRASH_RETRY.total_seconds(), "the change showing in the feed")
        body = httpx.get(url, timeout=30).content
        states = fetch_states(env)
        archived = database_rows(
            env,
            "SELECT a.upstream_id, a.start_at, a.last_seen_at FROM archived_sessions a "
            "JOIN sources s ON s.id = a.source_id WHERE s.name = 'tagmango-sim'",
        )

    print(f"the change showed {took:.1f} s after the second worker started")
    occurrences = validate_feed(body, start=feed_window()[0], end=feed_window()[1])
    keys = [(o.uid, o.start) for o in occurrences]
    assert len(keys) == len(set(keys)), f"duplicated occurrences: {sorted(keys)}"
    now = datetime.now(UTC)
    fetched = (now - timedelta(days=2), now + timedelta(days=180))
    confirmed, _ = upstream_occurrences(upstream.simulators, *fetched)
    inside = away_from(fetched)
    served = {o for o in as_tuples(occurrences, "CONFIRMED") if inside(o)}
    assert served == {o for o in confirmed if inside(o)}, "the feed differs from upstream"
    assert (renamed.start, renamed.end, RENAMED) in served and added in served

    # The merge is one transaction: every archived TagMango session was seen by the last
    # merge (a partial merge would leave some stamped by an older one), and no partition is
    # left marked failing, queued by the dead worker, or with an error.
    last_merge = max(row["last_seen_at"] for row in archived)
    older = [r for r in archived if r["last_seen_at"] != last_merge and inside((r["start_at"],))]
    assert not older, f"archived sessions the last merge did not see: {older}"
    for state in states:
        assert state["last_error"] is None and state["failing_since"] is None, state
        assert state["last_success_at"] is not None, state


def change_upstream(upstream: Upstream) -> tuple[SimCall, tuple[datetime, datetime, str]]:
    """Rename an upcoming call and add one; returns the renamed call and the added one as
    (start, end, title)."""
    tagmango = upstream.simulators.tagmango
    now = datetime.now(UTC)
    soon = (now + timedelta(days=1), now + timedelta(days=60))
    upcoming = [call for call in tagmango.calls() if soon[0] < call.start < soon[1]]
    renamed = tagmango.update_call(upcoming[0].id, title=RENAMED)
    start = (now + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    tagmango.add_call(SimCall("crash-added", ADDED, start, start + timedelta(hours=1)))
    return renamed, (start, start + timedelta(hours=1), ADDED)


# -- 3. subscribers are answered at once whatever upstream does ----------------------------


def slow(upstream: Upstream) -> None:
    upstream.simulators.tagmango.latency = 5.0  # per page


def failing(upstream: Upstream) -> None:
    upstream.simulators.tagmango.fail_next(*[Fault.error(503)] * 1000)


def rate_limited(upstream: Upstream) -> None:
    # Retry-After: 1 keeps the 429 retries (20 s of waiting) from drawing long backoffs.
    upstream.simulators.tagmango.fail_next(*[Fault.too_many(retry_after="1")] * 1000)


def hanging(upstream: Upstream) -> None:
    # Longer than the client's read timeout (30 s): the refresh is stuck for the whole test.
    upstream.simulators.tagmango.fail_next(*[Fault.hang(45)] * 10)


@pytest.mark.parametrize(
    ("trouble", "fails"),
    [(slow, False), (failing, True), (rate_limited, True), (hanging, False)],
    ids=["slow", "5xx", "429", "hanging"],
)
def test_feeds_answer_at_once_with_the_last_good_bytes_whatever_upstream_does(
    tmp_path: Path, trouble: Callable[[Upstream], None], fails: bool
) -> None:
    with ExitStack() as stack:
        upstream = stack.enter_context(recorded_upstream())
        env = stack.enter_context(postgres_install(tmp_path, upstream, ttl=1))
        feeds = {
            "both sources": create_feed(env)["ics_url"],
            "TrainerCentral only": env.cli_json(
                "feed", "create", "--name", "Academy", "--source", "trainercentral-sim"
            )["ics_url"],
        }
        server = BridgeServer(env)
        stack.callback(server.kill)  # a graceful stop would wait for the stuck refresh
        server.start()
        good = {name: wait_for_data(url).content for name, url in feeds.items()}

        trouble(upstream)  # TagMango only: TrainerCentral stays well
        troubled = time.monotonic()
        answers = probe(server, feeds, until_stale=fails)
        arrivals = upstream.recorder.arrivals(troubled)

    for name, status, seconds, response in answers:
        assert status == 200, f"{name}: {status} {response.text[:200]}"
        assert seconds < 1.0, f"{name} took {seconds:.2f} s while TagMango is troubled"
        if name in good:
            assert response.content == good[name], f"{name}: not the last good bytes"
    tagmango = [a for a in arrivals if a.upstream == "tagmango"]
    academy = [a for a in arrivals if a.upstream == "trainercentral" and a.starts_round]
    assert tagmango, "no TagMango refresh was attempted while it was troubled"
    assert len(academy) >= 2, f"TrainerCentral refreshes stopped: {len(academy)} rounds"
    stale = {name for name, _, _, response in answers if "X-Calbridge-Stale" in response.headers}
    assert stale == ({"both sources"} if fails else set()), f"stale answers: {stale}"


# -- 4. `feed create` queues the first fetch ----------------------------------------------


def test_feed_create_fetches_before_the_first_subscriber_asks(tmp_path: Path) -> None:
    with ExitStack() as stack:
        upstream = stack.enter_context(recorded_upstream())
        env = stack.enter_context(postgres_install(tmp_path, upstream, ttl=600))
        server = BridgeServer(env)
        stack.callback(server.stop)
        server.start()

        feed = create_feed(env)
        took = wait_until(
            lambda: (
                len(states := fetch_states(env)) == 2
                and all(state["last_success_at"] for state in states)
            ),
            10,
            "the first fetch of the new feed (without any subscriber)",
        )
        asked = time.monotonic()
        response, seconds = timed_get(feed["ics_url"])
        before = {a.upstream for a in upstream.recorder.arrivals(until=asked) if a.starts_round}
        after = upstream.recorder.arrivals(since=asked)

    assert before == {"tagmango", "trainercentral"}, f"fetched before the first GET: {before}"
    assert not after, f"the first GET made upstream requests: {after}"
    assert response.status_code == 200 and seconds < 1.0, (
        f"the first subscriber got {response.status_code} after {seconds:.2f} s"
    )
    assert took < 5.0, f"the first fetch landed {took:.1f} s after `feed create`"


# -- 5. every queue backend ----------------------------------------------------------------


@pytest.mark.parametrize("backend", ["redis", "postgresql"])
def test_jobs_round_trip_through_the_queue_backend(tmp_path: Path, backend: str) -> None:
    with ExitStack() as stack:
        upstream = stack.enter_context(recorded_upstream())
        queue_url = stack.enter_context(redis_queue(4)) if backend == "redis" else "database"
        env = stack.enter_context(postgres_install(tmp_path, upstream, ttl=2, queue_url=queue_url))
        server = BridgeServer(env)
        stack.callback(server.stop)
        server.start("--no-worker")  # no job threads: only the worker runs jobs
        worker = BridgeWorker(env)
        stack.callback(worker.stop)
        worker.start()

        url = create_feed(env)["ics_url"]  # the CLI queues the first fetch
        wait_for_data(url)
        first = time.monotonic()

        # A TTL later a subscriber's GET finds stale data: the web process queues the refresh.
        def refreshed() -> bool:
            assert httpx.get(url, timeout=30).status_code == 200
            return any(a.starts_round for a in upstream.recorder.arrivals(first))

        wait_until(refreshed, 15, "a refresh queued by the web process")
        banner = worker.log_path.read_text()
    assert f"on {backend} queue at" in banner, banner
