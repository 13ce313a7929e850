"""Run calbridge as real processes for whole-process tests: the CLI and `calbridge serve`."""

from __future__ import annotations

import json
import os
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
    """`calbridge serve` in a subprocess, started and stopped by the test."""

    def __init__(self, env: BridgeEnv) -> None:
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = env.directory / "serve.log"

    def start(self, *serve_args: str) -> BridgeServer:
        self.process = subprocess.Popen(
            [*CALBRIDGE, "serve", "--port", str(self.env.port), "--threads", "64", *serve_args],
            env=self.env.environ(),
            stdout=self.log_path.open("ab"),  # gunicorn's access log
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"calbridge serve exited:\n{self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.env.public_url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("calbridge serve did not become healthy within 30 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
