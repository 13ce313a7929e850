"""What queues push jobs: a refresh that changed data (and only such a refresh), the sweep of
due pushes (each claimed once), and never two pushes of one target at once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bridge.push.results import PushStatus
from tests.bridge.push.support import NOW, PushEnv


@pytest.fixture
def queued(env: PushEnv, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The target id of every push job queued from now on (they still run)."""
    seen: list[int] = []
    enqueue = env.services.queue.enqueue_push

    def recording(target_id: int, priority: int) -> None:
        seen.append(target_id)
        enqueue(target_id, priority)

    monkeypatch.setattr(env.services.queue, "enqueue_push", recording)
    return seen


def test_the_push_job_runs_after_a_refresh_that_changed_the_feed(
    env: PushEnv, queued: list[int]
) -> None:
    target = env.add_target()
    assert queued == [target]  # its first push
    call = next(c for c in env.simulators.tagmango.calls() if c.start > NOW and not c.group_id)
    env.simulators.tagmango.update_call(call.id, title="Renamed upstream")
    env.refetch()  # the refresh job merges the change, then queues the push (it runs inline)
    assert queued == [target, target]
    remote = env.remote_occurrences()
    assert remote == env.feed_occurrences()
    assert any(o[3] == "Renamed upstream" for o in remote)


def test_a_refresh_that_changed_nothing_queues_no_push(env: PushEnv, queued: list[int]) -> None:
    target = env.add_target()
    env.refetch()
    env.refetch()
    assert queued == [target]


def test_the_sweep_queues_each_due_push_once(env: PushEnv, queued: list[int]) -> None:
    target = env.add_target()
    assert env.services.pushes.sweep() == 0  # pushed just now: due again in an hour
    env.clock.advance(hours=1)
    assert env.services.pushes.sweep() == 1
    assert env.services.pushes.sweep() == 0
    assert queued == [target, target]
    assert env.target(target)["next_attempt_at"] == (NOW + timedelta(hours=2)).isoformat()


def test_two_pushes_of_one_target_never_run_at_once(env: PushEnv) -> None:
    target = env.add_target()
    with env.services.fetcher.locks.hold_named(f"push:{target}") as held:
        assert held
        assert env.services.pusher.push(target, force=True).status is PushStatus.BUSY
        assert env.services.pusher.run_job(target) is False  # Huey runs the job again later
    assert env.services.pusher.push(target, force=True).status is PushStatus.UNCHANGED
