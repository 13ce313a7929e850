"""Background refreshes: upstream reads run as jobs on Huey, never inside a subscriber's request.

- `schedule`: the rules (when a partition is due, when a refresh is redundant) and the
  `Scheduler` that queues due partitions, polled ones first;
- `requests`: `RefreshRequests`, how the web, the CLI and the scheduler ask for a refresh
  (at most one queued job per partition, whichever process asks);
- `fetcher`: `PartitionFetcher`, the job itself: one upstream read merged into the archive;
- `locks`: one refresh per partition at a time across every process and host;
- `queue`: the Huey instance `CALBRIDGE_QUEUE_URL` selects;
- `runner`: `JobRunner`, the workers (threads in `calbridge serve`, or `calbridge worker`).

docs/architecture.md explains the choices.
"""
