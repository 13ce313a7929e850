"""Run calbridge as real processes for whole-process tests: the CLI, `calbridge serve` and
`calbridge worker`.

Subprocesses run `python -m bridge` with this checkout first on PYTHONPATH, so they import the
code under test (the same package in CI, where the clone is installed with `pip install -e .`;
this checkout rather than another editable install when the tests run from a git worktree).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner, Result

from bridge.cli import main

CALBRIDGE = [sys.executable, "-m", "bridge"]
# The checkout these tests belong to: put first on the subprocesses' PYTHONPATH.
CHECKOUT = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "e2e-admin-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class BridgeEnv:
    """The environment of one calbridge installation (database, secrets, public URL)."""

    directory: Path
    port: int = field(default_factory=free_port)
    cache_ttl: int = 600
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environ(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("CALBRIDGE_")}
        env.update(
            CALBRIDGE_SECRET_KEY="e2e-secret-key-0123456789abcdef",
            CALBRIDGE_DATABASE_URL=f"sqlite:///{self.directory / 'calbridge.db'}",
            CALBRIDGE_INSTANCE_PATH=str(self.directory),
            CALBRIDGE_PUBLIC_URL=self.public_url,
            CALBRIDGE_CACHE_TTL=str(self.cache_ttl),
            CALBRIDGE_ADMIN_TOKEN=ADMIN_TOKEN,
        )
        env.update(self.extra)
        paths = [str(CHECKOUT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))  # checkout first, no repeats
        return env

    def cli(self, *args: str, check: bool = True) -> Result:
        """Run the real `calbridge` command line (in-process: a fresh app per call)."""
        result = CliRunner().invoke(main, list(args), env=self.environ(), catch_exceptions=False)
        if check and result.exit_code != 0:
            raise AssertionError(f"calbridge {' '.join(args)} failed:\n{result.output}")
        return result

    def cli_json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--json").stdout)


class BridgeServer:
    """`calbridge serve` in a subprocess, started and stopped by the test. Several servers can
    share one installation: pass each its own `port` (default: the installation's)."""

    def __init__(self, env: BridgeEnv, port: int | None = None) -> None:
        self.env = env
        self.port = port or env.port
        self.process: subprocess.Popen[bytes] | None = None
        name = "serve.log" if self.port == env.port else f"serve-{self.port}.log"
        self.log_path = env.directory / name

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def launch(self, *serve_args: str) -> BridgeServer:
        """Start the process without waiting for it (see `wait_healthy`)."""
        self.process = subprocess.Popen(
            [*CALBRIDGE, "serve", "--port", str(self.port), "--threads", "64", *serve_args],
            env=self.env.environ(),
            stdout=self.log_path.open("ab"),  # gunicorn's access log
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: `kill` ends gunicorn's workers too
        )
        return self

    def wait_healthy(self, seconds: float = 30.0) -> BridgeServer:
        assert self.process is not None, "launch the server first"
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"calbridge serve exited:\n{self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"calbridge serve did not become healthy within {seconds:.0f} s")

    def start(self, *serve_args: str) -> BridgeServer:
        return self.launch(*serve_args).wait_healthy()

    def stop(self) -> None:
        _terminate(self.process)
        self.process = None

    def kill(self) -> None:
        """SIGKILL the master and its web processes at once (a graceful stop waits for the
        jobs in progress, which a hanging upstream holds for the client's whole timeout)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None


class BridgeWorker:
    """`calbridge worker` in a subprocess: runs refresh jobs from the installation's queue."""

    def __init__(self, env: BridgeEnv, name: str = "worker") -> None:
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = env.directory / f"{name}.log"

    @property
    def pid(self) -> int:
        assert self.process is not None, "the worker is not running"
        return self.process.pid

    def start(self, *worker_args: str) -> BridgeWorker:
        """Start the worker; returns once it has opened its queue (its banner is logged)."""
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.process = subprocess.Popen(
            [*CALBRIDGE, "worker", *worker_args],
            env=self.env.environ(),
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"calbridge worker exited:\n{self.log_path.read_text()}")
            if b"calbridge worker:" in self.log_path.read_bytes()[offset:]:
                return self
            time.sleep(0.05)
        raise AssertionError("calbridge worker did not start within 30 s")

    def kill(self) -> None:
        """SIGKILL: the worker dies at once, whatever it was doing (no cleanup at all)."""
        assert self.process is not None, "the worker is not running"
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        _terminate(self.process)
        self.process = None


def _terminate(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
