"""The HTTP load tools of the serve benchmark: wrk (the load) and nginx (the ceiling).

Both come from Debian packages that `bench/setup.sh` installs. nginx runs as a child process
of the bench (`daemon off`) with a generated minimal config on a loopback port, serving one
directory, and is stopped afterwards; the machine's own nginx service is never used.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SETUP_HINT = "run `bash bench/setup.sh` (installs wrk and nginx from Debian packages)"
_SBIN = ("/usr/sbin", "/usr/local/sbin", "/sbin")


class LoadToolError(RuntimeError):
    """wrk or nginx failed, or printed something the bench cannot read."""


def find_tool(name: str) -> str | None:
    """The path of `name` on PATH or in an sbin folder (nginx lives in /usr/sbin)."""
    found = shutil.which(name)
    if found:
        return found
    for folder in _SBIN:
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def missing_tools() -> list[str]:
    """Which of wrk and nginx are not installed."""
    return [name for name in ("wrk", "nginx") if find_tool(name) is None]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Wait until something accepts connections on 127.0.0.1:port (or the process died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LoadToolError(f"{process.args!r} exited with status {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise LoadToolError(f"nothing listened on port {port} within {timeout:.0f} s")


def stop_process(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Stop one child process we started: `sig`, then SIGKILL after 15 s."""
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def tree_cpu_seconds(root_pid: int) -> float:
    """User + system CPU seconds used so far by a process and its live descendants (Linux)."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}  # pid → (parent pid, CPU seconds)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        # After the command name: state, ppid, ..., utime (14th field), stime (15th).
        stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)
    tree, frontier = {root_pid}, [root_pid]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, (ppid, _) in stats.items() if ppid == parent]
        tree.update(children)
        frontier.extend(children)
    return sum(stats[pid][1] for pid in tree if pid in stats)


# -- wrk -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run measured."""

    requests: int
    seconds: float
    requests_per_second: float
    transfer_bytes_per_second: float
    non_2xx_3xx: int
    socket_errors: dict[str, int]
    latency_p50_ms: float | None
    latency_p99_ms: float | None

    @property
    def errors(self) -> int:
        return self.non_2xx_3xx + sum(self.socket_errors.values())

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "errors": self.errors}


def combine(results: Sequence[WrkResult]) -> WrkResult:
    """Several wrk runs against one URL as one: totals, the median p50 and the worst p99."""
    if not results:
        raise ValueError("nothing to combine")
    seconds = sum(r.seconds for r in results)
    requests = sum(r.requests for r in results)
    p50s = sorted(r.latency_p50_ms for r in results if r.latency_p50_ms is not None)
    p99s = [r.latency_p99_ms for r in results if r.latency_p99_ms is not None]
    return WrkResult(
        requests=requests,
        seconds=round(seconds, 3),
        requests_per_second=round(requests / seconds, 2) if seconds else 0.0,
        transfer_bytes_per_second=round(
            sum(r.transfer_bytes_per_second * r.seconds for r in results) / seconds, 1
        )
        if seconds
        else 0.0,
        non_2xx_3xx=sum(r.non_2xx_3xx for r in results),
        socket_errors={
            kind: sum(r.socket_errors.get(kind, 0) for r in results)
            for kind in results[0].socket_errors
        },
        latency_p50_ms=p50s[len(p50s) // 2] if p50s else None,
        latency_p99_ms=max(p99s) if p99s else None,
    )


_UNITS = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "k": 1e3}
_BYTE_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}
_TIME_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _number(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)([kKMG]?)", text)
    if not match:
        raise LoadToolError(f"wrk printed an unreadable number {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _milliseconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise LoadToolError(f"wrk printed an unreadable duration {text!r}")
    return float(match.group(1)) * _TIME_UNITS[match.group(2)]


def parse_wrk(output: str) -> WrkResult:
    """Read wrk's summary (with or without --latency)."""
    done = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m),", output, re.M)
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    transfer = re.search(r"^Transfer/sec:\s+([\d.]+)([KMG]?B)", output, re.M)
    if not (done and rate and transfer):
        raise LoadToolError(f"wrk printed no summary:\n{output}")
    socket_errors = {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if errors:
        socket_errors = dict(zip(socket_errors, map(int, errors.groups()), strict=True))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    percentiles = dict(re.findall(r"^\s+(50|99)(?:\.000)?%\s+(\S+)", output, re.M))
    return WrkResult(
        requests=int(done.group(1)),
        seconds=_milliseconds(done.group(2) + done.group(3)) / 1000,
        requests_per_second=float(rate.group(1)),
        transfer_bytes_per_second=float(transfer.group(1)) * _BYTE_UNITS[transfer.group(2)],
        non_2xx_3xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=socket_errors,
        latency_p50_ms=_milliseconds(percentiles["50"]) if "50" in percentiles else None,
        latency_p99_ms=_milliseconds(percentiles["99"]) if "99" in percentiles else None,
    )


def run_wrk(
    url: str,
    *,
    seconds: float,
    threads: int = 2,
    connections: int = 16,
    headers: Sequence[str] = (),
) -> WrkResult:
    """Load `url` from a separate wrk process for `seconds` and read its summary."""
    wrk = find_tool("wrk")
    if wrk is None:
        raise LoadToolError(f"wrk is not installed: {SETUP_HINT}")
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s"]
    for header in headers:
        command += ["-H", header]
    command += ["--latency", url]
    finished = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    if finished.returncode != 0:
        raise LoadToolError(f"wrk exited with {finished.returncode}: {finished.stderr.strip()}")
    return parse_wrk(finished.stdout)


# -- nginx ---------------------------------------------------------------------------------

NGINX_CONFIG = """\
daemon off;
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    types {{ text/calendar ics; }}
    default_type application/octet-stream;
    charset utf-8;
    charset_types text/calendar;
    etag on;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{ }}
    }}
}}
"""


@dataclass(frozen=True)
class RunningNginx:
    url: str  # base URL, no trailing slash
    pid: int  # the master process (its workers are its children)


@contextmanager
def nginx_serving(files: dict[str, bytes], *, workers: int = 2) -> Iterator[RunningNginx]:
    """nginx on a free loopback port serving `files` (name → bytes), stopped afterwards."""
    nginx = find_tool("nginx")
    if nginx is None:
        raise LoadToolError(f"nginx is not installed: {SETUP_HINT}")
    with tempfile.TemporaryDirectory(prefix="calbridge-bench-nginx-") as temp:
        prefix = Path(temp)
        root = prefix / "www"
        root.mkdir()
        for name, body in files.items():
            (root / name).write_bytes(body)
            (root / name).chmod(0o644)
        # Run as root, nginx's workers drop to an unprivileged user that must read the files.
        for folder in (prefix, root):
            folder.chmod(0o755)
        port = free_port()
        config = prefix / "nginx.conf"
        config.write_text(NGINX_CONFIG.format(workers=workers, prefix=prefix, port=port, root=root))
        process = subprocess.Popen(
            [nginx, "-p", str(prefix), "-c", str(config), "-e", str(prefix / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            try:
                wait_for_port(port, process)
            except LoadToolError as error:
                log = (prefix / "error.log").read_text() if (prefix / "error.log").exists() else ""
                raise LoadToolError(f"nginx did not start: {error}\n{log}") from None
            yield RunningNginx(f"http://127.0.0.1:{port}", process.pid)
        finally:
            stop_process(process, signal.SIGQUIT)  # graceful: finish open requests
            if process.stderr is not None:
                process.stderr.close()
