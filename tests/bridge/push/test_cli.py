"""`calbridge push …` (bridge.cli_push): clear one-line errors for bad flags, `--json` output,
and the whole cycle against a real Radicale server (the commands use the test's services, so
the clock is injected and jobs run inline)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from bridge import cli_push
from bridge.cli import main
from tests.bridge.push.radicale_support import PASSWORD, USER
from tests.bridge.push.support import PushEnv

USERS_EVENT = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nBEGIN:VEVENT\r\n"
    b"UID:mine@example.net\r\nDTSTAMP:20260301T000000Z\r\nDTSTART:20260311T090000Z\r\n"
    b"DTEND:20260311T100000Z\r\nSUMMARY:Mine\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


@pytest.fixture
def env(env: PushEnv, monkeypatch: pytest.MonkeyPatch) -> PushEnv:
    """The package's push environment, with the CLI reading its services."""
    monkeypatch.setattr(cli_push, "load_services", lambda: env.services)
    return env


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["push", *args])
    return result.exit_code, result.stdout, result.stderr


def add(env: PushEnv, *extra: str, password: str = PASSWORD) -> tuple[int, str, str]:
    return run(
        "add", str(env.feed_id), "--url", env.calendar_url, "--username", USER,
        "--password", password, *extra,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://cloud.example.com/cal/", "--url must be the http(s) URL of a CalDAV calendar"),
        ("cloud.example.com/cal/", "--url must be the http(s) URL of a CalDAV calendar"),
        ("https://me:pw@cloud.example.com/cal/", "give the login with --username and --password"),
        ("https://cloud.example.com/cal/?x=1", "--url must not have a query or fragment"),
    ],
)
def test_a_bad_url_is_one_clear_line(env: PushEnv, url: str, message: str) -> None:
    code, out, err = run(
        "add", str(env.feed_id), "--url", url, "--username", USER, "--password", "p"
    )
    assert code == 1 and out == ""
    assert err.startswith(f"calbridge: error: {message}") and err.count("\n") == 1


def test_an_unknown_feed_or_target_is_one_clear_line(env: PushEnv) -> None:
    code, _, err = run(
        "add", "999", "--url", env.calendar_url, "--username", "u", "--password", "p"
    )
    assert (code, err) == (1, "calbridge: error: no feed with id 999 (see `calbridge feed list`)\n")
    for command in (["run", "42"], ["remove", "42"]):
        code, _, err = run(*command)
        assert code == 1
        assert err == "calbridge: error: no push target with id 42 (see `calbridge push list`)\n"
    code, _, err = add(env, password="")
    assert (code, err) == (1, "calbridge: error: --password is required\n")


def test_add_list_run_and_remove(env: PushEnv) -> None:
    mine = f"{env.calendar_url}mine.ics"
    assert env.radicale.put(mine, USERS_EVENT).status_code == 201
    code, out, _ = add(env, "--json")
    assert code == 0
    added: dict[str, Any] = json.loads(out)
    assert added["url"] == env.calendar_url and added["status"] == "ok"  # pushed at once
    assert added["events"] > 50 and PASSWORD not in out

    code, out, _ = run("list", "--json")
    assert code == 0 and [t["id"] for t in json.loads(out)] == [added["id"]]
    code, out, _ = run("list")
    assert out.startswith(f"{added['id']}\tfeed {env.feed_id}\t{env.calendar_url}\tok\t")

    code, out, _ = run("run", "--json")
    assert code == 0
    assert json.loads(out) == [
        {
            "id": added["id"], "status": "unchanged", "created": 0, "updated": 0,
            "deleted": 0, "conflicts": 0, "requests": {}, "error": None,
            "next_attempt_at": added["next_attempt_at"],
        }
    ]  # fmt: skip

    code, out, _ = run("remove", str(added["id"]), "--delete-events", "--json")
    assert code == 0 and json.loads(out)["deleted_events"] == added["events"]
    assert list(env.radicale.etags(env.calendar_url)) == ["/alice/" + mine.split("/alice/")[1]]
    assert run("list") == (0, "no push targets\n", "")


def test_a_failed_push_shows_in_list_and_run_exits_1(env: PushEnv) -> None:
    code, out, _ = add(env, "--json", password="wrong")
    assert code == 0  # registered; the push it queued failed
    target = json.loads(out)["id"]
    code, out, _ = run("list")
    assert "\tfailing\t0 events\terror at 2026-03-10T08:00:00+00:00: the CalDAV server" in out
    assert "\tnext attempt 2026-03-10T08:01:00+00:00" in out
    code, out, err = run("run", str(target))
    assert code == 1 and out == ""
    assert err == (
        f"calbridge: error: push {target} failed: the CalDAV server at {env.calendar_url} "
        f"refused the login of {USER} (HTTP 401): check the username and password\n"
    )
