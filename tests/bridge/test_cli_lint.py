"""Tests for `calbridge lint FILE`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import main
from tests.ical_validators import REFERENCE_FEED


def run(*args: str, stdin: bytes | None = None):
    return CliRunner().invoke(main, ["lint", *args], input=stdin)


@pytest.fixture
def clean_file(tmp_path: Path) -> Path:
    path = tmp_path / "clean.ics"
    path.write_bytes(REFERENCE_FEED)
    return path


def test_clean_file_is_ok(clean_file: Path) -> None:
    result = run(str(clean_file))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{clean_file}: ok\n"


def test_problems_are_one_line_each_and_exit_1(tmp_path: Path) -> None:
    path = tmp_path / "broken.ics"
    broken = REFERENCE_FEED.replace(b"DTSTART:20260402T140000Z", b"DTSTART:20260402T140000")
    path.write_bytes(b"\xef\xbb\xbf" + broken)
    result = run(str(path))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{path}:1: bom: the file starts with a UTF-8 byte order mark",
        f"{path}:59: floating: DTSTART:20260402T140000 is a floating time (no Z, no TZID)",
    ]


def test_warnings_alone_exit_0(tmp_path: Path) -> None:
    event = (
        "BEGIN:VEVENT\r\nUID:s{n}@t\r\nDTSTAMP:20260301T000000Z\r\n"
        "DTSTART:20260302T100000Z\r\nDTEND:20260302T110000Z\r\nEND:VEVENT\r\n"
    )
    body = "".join(event.format(n=n) for n in range(1001))
    path = tmp_path / "big.ics"
    path.write_text(f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n{body}END:VCALENDAR\r\n")
    result = run(str(path))
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        f"{path}: size: warning: 1001 VEVENTs (keep it under 1000)",
        f"{path}: ok (1 warning)",
    ]


def test_standard_input() -> None:
    result = run("-", stdin=REFERENCE_FEED.replace(b"\r\n", b"\n", 1))
    assert result.exit_code == 1
    assert result.stdout == "-:1: crlf: line ends with a bare LF, not CRLF\n"


def test_missing_file_is_one_error_line_and_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "nope.ics"
    result = run(str(missing))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"calbridge: error: cannot read {missing}: No such file or directory\n"


def test_directory_is_one_error_line_and_exit_2(tmp_path: Path) -> None:
    result = run(str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr == f"calbridge: error: cannot read {tmp_path}: Is a directory\n"


def test_missing_argument_is_a_usage_error() -> None:
    result = run()
    assert result.exit_code == 2
    assert "Missing argument 'FILE'" in result.stderr


def test_help() -> None:
    result = run("--help")
    assert result.exit_code == 0
    assert "Usage: main lint [OPTIONS] FILE" in result.stdout
    assert "FILE:LINE: rule: message" in result.stdout


def test_installed_command(clean_file: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bridge", "lint", str(clean_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (completed.returncode, completed.stdout) == (0, f"{clean_file}: ok\n"), completed.stderr
