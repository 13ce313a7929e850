"""`calbridge participants sync|list|schedule` as an operator runs them: a CSV roster and the
simulated TagMango roster, JSON and human output, the mail-merge CSV, the automatic sync's
schedule, and clear errors for bad input."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import main
from bridge.simulator.server import RunningServer, serving
from bridge.simulator.tagmango import DEMO_HOST, DEMO_KEY, TagMangoSimulator
from bridge.simulator.tagmango_roster import seed_subscribers

ROSTER = (
    "\ufeffUser_ID;Name;Email;Mangoes;Phone\n"
    "u1;Asha;asha@example.org;m1,m2;+91\n"
    'u2;"Rao; Ishita";ishita@example.org;m1;\n'
    "u3;Jo;jo@example.org;;\n"
    ";Nobody;n@example.org;m1;\n"
)


@pytest.fixture
def upstream() -> Iterator[RunningServer]:
    # The command runs on the real clock, so the simulator is seeded relative to it.
    now = datetime.now(UTC)
    simulator = TagMangoSimulator.seeded(now, subscriptions=seed_subscribers(now, 6))
    with serving(simulator) as server:
        yield server


@pytest.fixture
def env(tmp_path: Path, upstream: RunningServer) -> dict[str, str]:
    variables = {
        "CALBRIDGE_SECRET_KEY": "cli-test-secret-key-0123456789",
        "CALBRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "CALBRIDGE_INSTANCE_PATH": str(tmp_path),
        "CALBRIDGE_PUBLIC_URL": "https://cal.example.com",
    }
    code, _, err = run(
        variables, "source", "add", "tagmango", "--name", "studio", "--token", DEMO_KEY,
        "--whitelabel-host", DEMO_HOST, "--api-base", upstream.url,
    )  # fmt: skip
    assert code == 0, err
    return variables


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=env, input=stdin)
    return result.exit_code, result.stdout, result.stderr


def sync_json(env: dict[str, str], *args: str, stdin: str | None = None) -> dict:
    code, out, err = run(env, "participants", "sync", "studio", *args, "--json", stdin=stdin)
    assert code == 0, err
    return json.loads(out)


def test_a_csv_sync_creates_a_feed_per_participant_and_is_idempotent(
    env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "roster.csv"
    path.write_text(ROSTER, encoding="utf-8")
    report = sync_json(env, "--csv", str(path))
    assert [r["user_id"] for r in report["created"]] == ["u1", "u2", "u3"]
    assert report["created"][1]["name"] == "Rao; Ishita"
    assert report["created"][0]["ics_url"].startswith("https://cal.example.com/f/")
    assert report["errors"] == [{"line": 5, "user_id": None, "message": "the user_id is empty"}]
    assert report["updated"] == report["revoked"] == []

    again = sync_json(env, "--csv", str(path))
    assert again["created"] == again["updated"] == again["revoked"] == []
    assert again["unchanged"] == 3

    path.write_text("user_id,name,email\nu1,Asha V.,asha@example.org\nu2,Rao,x@example.org\n")
    changed = sync_json(env, "--csv", str(path))
    assert [r["user_id"] for r in changed["updated"]] == ["u1", "u2"]
    assert [(r["user_id"], r["reason"]) for r in changed["revoked"]] == [("u3", "left")]


def test_an_unreadable_row_protects_everyone_from_revocation(env: dict[str, str]) -> None:
    sync_json(env, "--csv", "-", stdin=ROSTER)
    broken = 'user_id,name\nu1,Asha\nu2,"never closed\n'
    report = sync_json(env, "--csv", "-", stdin=broken)
    assert report["revoked"] == []
    assert any("could not be read" in note for note in report["notes"])
    empty = run(env, "participants", "sync", "studio", "--csv", "-", stdin="user_id\n")
    assert empty[0] == 1 and "lists nobody; refusing to revoke all 3" in empty[2]


def test_the_human_output_shows_a_progress_bar_and_a_summary(env: dict[str, str]) -> None:
    code, out, err = run(env, "participants", "sync", "studio", "--csv", "-", stdin=ROSTER)
    assert code == 0, err
    assert "syncing participants" in err
    assert "3 created" in out and "error: line 5: the user_id is empty" in out
    dry = ("participants", "sync", "studio", "--csv", "-", "--dry-run")
    code, out, _ = run(env, *dry, stdin=ROSTER)
    assert "0 would be created" in out and "3 unchanged" in out


def test_list_prints_every_participants_links_for_a_mail_merge(env: dict[str, str]) -> None:
    created = sync_json(env, "--csv", "-", stdin=ROSTER + "u4,=HYPERLINK(1),h@example.org;;\n")
    code, out, err = run(env, "participants", "list", "studio", "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == [
        "user_id", "name", "email", "status", "feed_id", "feed_url", "page_url", "webcal_url",
    ]  # fmt: skip
    by_user = {row["user_id"]: row for row in rows}
    first = next(r for r in created["created"] if r["user_id"] == "u1")
    assert by_user["u1"]["feed_url"] == first["ics_url"]
    assert by_user["u1"]["webcal_url"] == first["webcal_url"]
    assert by_user["u1"]["page_url"] == first["page_url"]
    code, out, _ = run(env, "participants", "list", "studio", "--format", "json")
    assert {row["user_id"] for row in json.loads(out)} == set(by_user)


def test_formulas_are_defused_in_the_mail_merge_csv(env: dict[str, str]) -> None:
    sync_json(env, "--csv", "-", stdin='user_id,name\nu9,=HYPERLINK("x")\n')
    _, out, _ = run(env, "participants", "list", "studio")
    assert "'=HYPERLINK" in out


def test_a_sync_from_the_tagmango_roster(env: dict[str, str]) -> None:
    report = sync_json(env)
    assert [r["user_id"] for r in report["created"]] == [
        "fan-00000", "fan-00001", "fan-00002", "fan-00003", "fan-00004",
    ]  # fmt: skip
    assert [r["user_id"] for r in report["skipped"]] == ["fan-00005"]  # expired
    assert sync_json(env)["created"] == []
    one = sync_json(env, "--user", "fan-00002")
    assert one["unchanged"] == 1 and one["revoked"] == []


def schedule_json(env: dict[str, str], *args: str) -> dict:
    code, out, err = run(env, "participants", "schedule", "studio", *args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_a_roster_sync_turns_the_schedule_on_and_schedule_changes_or_stops_it(
    env: dict[str, str],
) -> None:
    assert schedule_json(env)["scheduled"] is False
    code, out, _ = run(env, "participants", "schedule", "studio")
    assert code == 0 and "not synced automatically" in out

    sync_json(env, "--user", "fan-00002")  # one user: no schedule
    assert schedule_json(env)["every_hours"] is None
    report = sync_json(env)
    assert any("every 24 hours" in note for note in report["notes"])
    shown = schedule_json(env)
    assert shown["scheduled"] and shown["every_hours"] == 24
    last_run = datetime.fromisoformat(shown["last_run_at"])
    assert datetime.fromisoformat(shown["next_due_at"]) - last_run == timedelta(hours=24)
    assert shown["last_counts"] == {"created": 4, "updated": 0, "revoked": 0, "errors": 0}
    code, out, _ = run(env, "participants", "schedule", "studio")
    assert "automatic participant sync every 24 hours" in out and "4 created" in out

    every = schedule_json(env, "--every", "6")
    assert every["scheduled"] and every["every_hours"] == 6
    assert datetime.fromisoformat(every["next_due_at"]) - last_run == timedelta(hours=6)
    off = schedule_json(env, "--off")
    assert off["scheduled"] is False and off["next_due_at"] is None and off["every_hours"] == 6
    code, out, _ = run(env, "participants", "schedule", "studio")
    assert "automatic participant sync off" in out and "next run" not in out
    assert schedule_json(env, "--every", "12")["scheduled"]


def test_a_csv_sync_schedules_nothing_and_stops_a_schedule(env: dict[str, str]) -> None:
    sync_json(env, "--csv", "-", stdin=ROSTER)
    assert schedule_json(env)["scheduled"] is False
    schedule_json(env, "--every", "24")
    report = sync_json(env, "--csv", "-", stdin=ROSTER)
    assert any("now off" in note for note in report["notes"])
    assert schedule_json(env)["scheduled"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--every", "0"), "0 is not in the range 1<=x<=720"),
        (("--every", "abc"), "'abc' is not a valid integer range"),
        (("--every", "721"), "721 is not in the range 1<=x<=720"),
        (("--every", "5", "--off"), "--every and --off cannot be used together"),
        (("--bogus",), "No such option '--bogus'"),
    ],
)
def test_bad_schedule_flags_get_a_clear_error_and_exit_code_2(
    env: dict[str, str], args: tuple, message: str
) -> None:
    code, _, err = run(env, "participants", "schedule", "studio", *args)
    assert code == 2 and message in err and "Traceback" not in err


def test_every_schedule_option_has_help(env: dict[str, str]) -> None:
    code, out, _ = run(env, "participants", "schedule", "--help")
    assert code == 0
    options = {line.split()[0]: line for line in out.splitlines() if line.startswith("  --")}
    assert set(options) == {"--every", "--off", "--json"}
    assert all(len(line.split()) > 2 for line in options.values())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("participants", "sync", "nope"), "no source named 'nope'"),
        (("participants", "list", "nope"), "no source named 'nope'"),
        (("participants", "schedule", "nope"), "no source named 'nope'"),
        (("participants", "sync", "studio", "--csv", "/no/such.csv"), "cannot read /no/such.csv"),
        (
            ("participants", "sync", "studio", "--csv", "-", "--user", "u"),
            "--csv and --user cannot be used together",
        ),
    ],
)
def test_bad_flags_get_one_clear_line(env: dict[str, str], args: tuple, message: str) -> None:
    code, _, err = run(env, *args)
    assert code != 0 and message in err and "Traceback" not in err


def test_a_bad_csv_file_gets_one_clear_line(env: dict[str, str]) -> None:
    code, _, err = run(env, "participants", "sync", "studio", "--csv", "-", stdin="name\nA\n")
    assert code == 1 and "line 1: the header row names no user_id column" in err
    code, _, _ = run(env, "participants", "list", "studio", "--format", "xml")
    assert code == 2
