"""Run a WSGI app on a real loopback HTTP server in a background thread.

Used by the tests, the demo and the benchmarks so that clients talk real HTTP
(sockets, headers, timeouts) to the simulators and to the bridge itself.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server


@dataclass
class RunningServer:
    """A server started by `start_server`; `url` has no trailing slash."""

    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return self.server.server_port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start_server(app: Any, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Serve `app` (threaded) on host:port; port 0 picks a free one."""
    server = make_server(host, port, app, threaded=True)
    server.daemon_threads = True  # type: ignore[attr-defined]
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},  # stop() returns quickly instead of after 0.5 s
        name=f"wsgi:{port}",
        daemon=True,
    )
    thread.start()
    return RunningServer(server, thread)


@contextmanager
def serving(app: Any) -> Iterator[RunningServer]:
    """Context manager form of `start_server`, stopping the server on exit."""
    running = start_server(app)
    try:
        yield running
    finally:
        running.stop()
