"""Push: write a feed's events into a CalDAV calendar the user already has (Nextcloud, iCloud,
Fastmail, Radicale...), keeping it equal to the feed.

- `remote`: the user's calendar as a push sees it (conditional PUT, DELETE, GET over the
  `caldav` library's client), and the failures that stop a push;
- `pusher`: `Pusher`, the push job (what to send, the conflict rule, the retry backoff);
- `triggers`: `PushTriggers`, what queues push jobs (a refresh that changed a partition a
  pushed feed reads, the sweep of due retries and periodic comparisons, `push run`);
- `operations`: the `calbridge push …` operations (bridge.cli_push is the command line).

docs/architecture.md ("Push") explains the choices.
"""
