"""Asking for refreshes: one queued job per partition, however many ask at once."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bridge.jobs.requests import RefreshRequests
from bridge.partitions import Partition
from tests.bridge.jobs.support import make_rig
from tests.stores import BACKENDS, fresh_database_url


@dataclass
class CountingQueue:
    queued: list[tuple[Partition, int]] = field(default_factory=list)
    broken: bool = False

    def enqueue_refresh(self, partition: Partition, priority: int) -> None:
        if self.broken:
            raise ConnectionError("queue unreachable")
        self.queued.append((partition, priority))


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_requests_queue_one_job(tmp_path: Path, backend: str) -> None:
    with fresh_database_url(backend, tmp_path) as url:
        rig = make_rig(tmp_path, database_url=url)
        store, clock = rig.services.store, rig.clock
        partition = Partition(rig.source_id)
        store.register_partition(partition, 30, clock.now)
        queue = CountingQueue()
        requests = RefreshRequests(store, queue, clock)
        answers: list[bool] = []
        threads = [
            threading.Thread(target=lambda: answers.append(requests.request(partition)))
            for _ in range(16)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert answers.count(True) == 1 and len(queue.queued) == 1
        # The job starts: one more may be queued meanwhile (one running plus one queued).
        store.start_refresh(partition, clock.now, clock.now)
        assert requests.request(partition) and not requests.request(partition)
        rig.services.store.close()


def test_a_forced_request_marks_the_queued_job(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    store, clock = rig.services.store, rig.clock
    partition = Partition(rig.source_id)
    store.register_partition(partition, 30, clock.now)
    requests = RefreshRequests(store, CountingQueue(), clock)
    assert requests.request(partition)
    assert not store.fetch_state(partition).force_requested
    assert not requests.request(partition, force=True)  # one queued already...
    assert store.fetch_state(partition).force_requested  # ...which now ignores the TTL


def test_an_unreachable_queue_is_logged_and_the_claim_undone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rig = make_rig(tmp_path)
    store, clock = rig.services.store, rig.clock
    partition = Partition(rig.source_id)
    store.register_partition(partition, 30, clock.now)
    queue = CountingQueue(broken=True)
    requests = RefreshRequests(store, queue, clock)
    assert requests.request(partition) is False
    assert "could not queue a refresh" in caplog.text
    assert store.fetch_state(partition).queued_at is None  # the next reader may ask again
    queue.broken = False
    assert requests.request(partition) and len(queue.queued) == 1
