"""What stops a push (bridge.push.remote's failures): each is recorded on the target with a
clear message, counted in the metrics, and tried again later with a growing backoff; none
hangs (short timeouts)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from tests.bridge.push.radicale_support import free_port
from tests.bridge.push.support import NOW, PushEnv


def metric(env: PushEnv, line_start: str) -> float:
    text = env.services.metrics.render().decode()
    line = next(line for line in text.splitlines() if line.startswith(line_start))
    return float(line.rsplit(" ", 1)[1])


def test_a_refused_login_is_recorded_and_retried_with_backoff(env: PushEnv) -> None:
    url = f"{env.radicale.base_url}/bob/calendar/"
    target = env.add_target(password="not yet", url=url, username="bob")
    shown = env.target(target)
    assert shown["status"] == "failing" and shown["failures"] == 1
    assert shown["last_error"] == (
        f"the CalDAV server at {url} refused the login of bob (HTTP 401): "
        "check the username and password"
    )
    assert shown["last_error_at"] == NOW.isoformat()
    assert shown["next_attempt_at"] == (NOW + timedelta(minutes=1)).isoformat()
    assert metric(env, 'calbridge_push_failures_total{reason="auth",target="1"}') == 1
    assert metric(env, "calbridge_push_targets_failing") == 1

    assert env.services.pushes.sweep() == 0  # not due yet
    puts = env.radicale.requests("PUT")
    call = next(c for c in env.simulators.tagmango.calls() if c.start > NOW and not c.group_id)
    env.simulators.tagmango.update_call(call.id, title="Renamed")
    env.refetch()  # its push is deferred: the server is not asked again before the retry
    assert env.radicale.requests("PUT") == puts and env.target(target)["failures"] == 1
    env.clock.advance(minutes=1)
    assert env.services.pushes.sweep() == 1  # the retry: refused again, waits twice as long
    shown = env.target(target)
    assert shown["failures"] == 2
    assert shown["next_attempt_at"] == (env.clock.now + timedelta(minutes=2)).isoformat()

    # The server's administrator creates the account: the next retry gets through.
    env.radicale.add_user("bob", "not yet")
    env.radicale.make_calendar("calendar", "bob", "not yet")
    env.clock.advance(minutes=2)
    assert env.services.pushes.sweep() == 1
    shown = env.target(target)
    assert shown["status"] == "ok" and shown["failures"] == 0 and shown["last_error"] is None
    assert shown["events"] > 50
    assert metric(env, "calbridge_push_targets_failing") == 0


def test_a_server_that_is_down_is_recorded_without_waiting(env: PushEnv) -> None:
    url = f"http://127.0.0.1:{free_port()}/alice/calendar/"  # nothing listens there
    started = time.monotonic()
    target = env.add_target(url=url)
    assert time.monotonic() - started < 5
    shown = env.target(target)
    assert shown["last_error"] == (
        f"could not reach the CalDAV server at {url}: connection refused"
    )
    assert shown["next_attempt_at"] == (NOW + timedelta(minutes=1)).isoformat()
    assert metric(env, 'calbridge_push_failures_total{reason="unreachable",target="1"}') == 1


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/alice/calendar/"
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


def test_a_server_that_does_not_answer_is_given_up_on_after_the_timeout(
    env: PushEnv, silent_server: str
) -> None:
    env.services.pusher.timeout = 0.5
    started = time.monotonic()
    target = env.add_target(url=silent_server)
    assert time.monotonic() - started < 10
    shown = env.target(target)
    assert shown["last_error"] == (
        f"could not reach the CalDAV server at {silent_server}: no answer within 0.5 s"
    )


def test_a_url_that_is_no_calendar_is_reported(env: PushEnv) -> None:
    url = f"{env.radicale.base_url}/alice/no-such-calendar/"
    target = env.add_target(url=url)
    assert "is not a calendar the server lets us write to" in env.target(target)["last_error"]
