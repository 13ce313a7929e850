"""feeds.rules and the other one-home rules: each layer (CLI operations, admin API schema,
store, upstream clients, feed writer) applies the same rule, in its own terms."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bridge import operations
from bridge.crypto import CredentialBox
from bridge.operations import OperationError, check_timezone
from bridge.store import NotFound, Store, StoreError
from bridge.store.base import MAX_ID, storable_id
from bridge.upstream.tagmango import TagMangoConfig
from bridge.upstream.trainercentral import TrainerCentralConfig
from bridge.web.openapi import SCHEMAS
from feeds.ical import FeedOptions
from feeds.model import InvalidSession
from feeds.rules import (
    MAX_ALARM_MINUTES,
    MAX_DAYS,
    aware_utc,
    check_alarm_minutes,
    trainercentral_auth,
)
from feeds.timezones import load_zone, zone_names

ROOT = Path(__file__).resolve().parents[2]


def test_one_not_found_for_the_store_and_the_operations() -> None:
    # The store's actions and the operations raise the same class; the CLI's and the admin
    # API's handlers of OperationError and of StoreError both catch it.
    assert operations.NotFound is NotFound
    assert issubclass(NotFound, OperationError) and issubclass(NotFound, StoreError)


def test_a_naive_datetime_is_refused_in_the_callers_terms() -> None:
    naive = datetime(2026, 3, 1, 10)
    assert aware_utc(datetime(2026, 3, 1, 10, tzinfo=UTC), "x").tzinfo is UTC
    for error in (ValueError, StoreError, InvalidSession):
        with pytest.raises(error, match=r"^start 2026-03-01T10:00:00 has no timezone$"):
            aware_utc(naive, "start", error)


@pytest.mark.parametrize("value", [-1, MAX_ALARM_MINUTES + 1, True, 1.5])
def test_the_alarm_limit(value: Any) -> None:
    assert check_alarm_minutes(None) is None and check_alarm_minutes(MAX_ALARM_MINUTES) == 10080
    with pytest.raises(OperationError, match=r"^--alarm must be between 0 and 10080 minutes"):
        check_alarm_minutes(value, "--alarm", OperationError)
    with pytest.raises(ValueError, match="alarm_minutes"):
        FeedOptions(name="x", alarm_minutes=value)


def test_the_api_schema_states_the_same_limits() -> None:
    feed = SCHEMAS["FeedInput"]["properties"]
    assert feed["alarm_minutes"]["maximum"] == MAX_ALARM_MINUTES
    assert feed["history_days"]["maximum"] == feed["horizon_days"]["maximum"] == MAX_DAYS
    assert SCHEMAS["TimeZone"]["enum"] == sorted(zone_names())


@pytest.mark.parametrize(
    "name", ["Mars/Olympus", "localtime", "../etc/passwd", "", "europe/berlin"]
)
def test_an_unknown_time_zone_is_refused_everywhere(name: str, tmp_path: Path) -> None:
    assert name not in zone_names()
    message = f"unknown time zone {name!r}; use an IANA name such as Europe/Berlin"
    with pytest.raises(OperationError, match=re.escape(message)):
        check_timezone(name)
    with pytest.raises(ValueError, match=re.escape(message)):
        FeedOptions(name="x", timezone=name)
    with pytest.raises(ValueError, match=re.escape(message)):
        TagMangoConfig(name="tm", token="k", whitelabel_host="h", timezone=name)
    with Store(f"sqlite:///{tmp_path / 'rules.db'}", CredentialBox("rules-test-key-0123")) as store:
        store.migrate()
        source = store.add_source("tm", "tagmango", {}, {"token": "k"})
        with pytest.raises(StoreError, match=re.escape(message)):
            store.create_feed(name="F", source_ids=[source.id], timezone=name)


def test_a_known_time_zone_is_accepted_everywhere() -> None:
    for name in ("Europe/Berlin", "UTC", "Asia/Kolkata"):
        assert name in zone_names() and str(load_zone(name)) == name
        assert check_timezone(name) == name


def test_the_largest_id() -> None:
    assert MAX_ID == 2**31 - 1  # INTEGER columns: 32-bit on PostgreSQL
    assert storable_id(MAX_ID) and not storable_id(MAX_ID + 1) and not storable_id(0)


SPELLINGS = {
    "cli": lambda name: "--" + name.replace("_", "-"),
    "api": str,
}


@pytest.mark.parametrize(
    ("given", "answer"),
    [
        ({"access_token"}, "access_token"),
        ({"client_id", "client_secret", "refresh_token"}, "oauth"),
        ({"access_token", "client_id"}, "not both"),
        ({"client_id", "refresh_token"}, "or all of"),
        (set(), "or all of"),
    ],
)
def test_trainercentral_credentials_are_a_token_or_a_whole_oauth_client(
    given: set[str], answer: str
) -> None:
    if answer in ("access_token", "oauth"):
        assert trainercentral_auth(given) == answer
        return
    with pytest.raises(OperationError, match=answer) as refused:
        trainercentral_auth(given, SPELLINGS["cli"], OperationError)
    assert "--access-token" in str(refused.value) and "--refresh-token" in str(refused.value)
    with pytest.raises(ValueError, match=answer):
        TrainerCentralConfig(
            name="tc",
            org_id="100000000",
            academy_url="https://academy.example.com",
            **{name: "x" for name in given},
        )


def test_each_rule_is_written_once() -> None:
    """The literals of the rules above appear only in their one home."""
    sources = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "bridge", "feeds"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    homes = {
        r"has no timezone\"": "feeds/rules.py",
        r"\b10080\b|7 \* 24 \* 60": "feeds/rules.py",
        r"\b3660\b": "feeds/rules.py",
        r"not both": "feeds/rules.py",
        r"unknown time zone": "feeds/timezones.py",
        r"available_timezones\(\)": "feeds/timezones.py",
        r"ZoneInfoNotFoundError": "feeds/timezones.py",
        r"2\*\*31 - 1": "bridge/store/base.py",
    }
    for pattern, home in homes.items():
        found = sorted(
            path
            for path in sources
            if path.endswith(".py")
            and re.search(pattern, (ROOT / path).read_text(encoding="utf-8"))
        )
        assert found == [home], f"{pattern!r} appears in {found}, expected only in {home}"
