"""The `calbridge` command line: help everywhere, one-line errors, JSON output."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from bridge.cli import main
from bridge.crypto import CredentialBox
from bridge.store import Store


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += all_commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "CALBRIDGE_SECRET_KEY": "cli-test-secret-key-0123456789",
        "CALBRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "CALBRIDGE_INSTANCE_PATH": str(tmp_path),  # the job queue and budgets live there
        "CALBRIDGE_PUBLIC_URL": "https://cal.example.com",
    }


def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def add_tagmango(env: dict[str, str], name: str = "tm") -> dict:
    code, out, err = run(
        env, "source", "add", "tagmango", "--name", name, "--token", "k",
        "--whitelabel-host", "me.tagmango.com", "--json",
    )  # fmt: skip
    assert code == 0, err
    return json.loads(out)


@pytest.mark.parametrize("command", all_commands(main), ids=" ".join)
def test_every_command_has_help(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output
    assert len(result.output.splitlines()) > 2


def test_design_commands_exist() -> None:
    commands = {" ".join(c) for c in all_commands(main)}
    assert commands >= {
        "source add tagmango", "source add trainercentral", "source list", "feed create",
        "feed list", "feed show", "feed rotate", "feed revoke", "feed export", "feed share",
        "serve", "demo", "simulate", "lint", "reencrypt", "worker", "source show",
        "source webhooks",
    }  # fmt: skip


def test_missing_secret_key_is_one_clear_line(tmp_path: Path) -> None:
    env = {"CALBRIDGE_SECRET_KEY": "", "CALBRIDGE_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    code, _, err = run(env, "source", "list")
    assert code != 0
    assert err.count("\n") == 1 and err.startswith("calbridge: error:")
    assert "CALBRIDGE_SECRET_KEY" in err


def test_create_feed_prints_urls_and_json(env: dict[str, str]) -> None:
    source = add_tagmango(env)
    assert source["name"] == "tm" and "token" not in source
    code, out, err = run(
        env, "feed", "create", "--name", "Yoga", "--source", "tm", "--timezone", "Asia/Kolkata",
        "--json",
    )  # fmt: skip
    assert code == 0, err
    feed = json.loads(out)
    assert feed["ics_url"].startswith("https://cal.example.com/f/")
    assert feed["webcal_url"] == "webcal://" + feed["ics_url"].removeprefix("https://")
    assert feed["page_url"] == feed["ics_url"].removesuffix(".ics")
    code, out, _ = run(env, "feed", "share", str(feed["id"]), "--scope", "no-links", "--json")
    share = json.loads(out)
    assert share["scope"] == "no-links" and share["ics_url"] != feed["ics_url"]
    for made, user in ((feed, f"feed-{feed['id']}"), (share, f"share-{share['id']}")):
        assert made["caldav_username"] == user
        assert made["caldav_url"] == f"https://cal.example.com/dav/calendars/{user}/sessions/"
        assert len(made["caldav_password"]) == 23
    code, out, _ = run(env, "feed", "show", str(feed["id"]), "--json")
    shown = json.loads(out)
    assert shown["timezone"] == "Asia/Kolkata" and len(shown["shares"]) == 1
    assert feed["ics_url"] not in out  # the token is never stored in the clear
    assert feed["caldav_password"] not in out  # nor the CalDAV password


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("feed", "create", "--name", "x", "--source", "nope"), "no source named 'nope'"),
        (("feed", "create", "--name", "x", "--source", "tm", "--timezone", "Mars/Base"),
         "unknown time zone"),
        (("feed", "create", "--name", "x", "--source", "tm", "--horizon-days", "0"),
         "--horizon-days must be between 1"),
        (("feed", "show", "99"), "no feed with id 99"),
        (("feed", "share", "99"), "no feed with id 99"),
        (("feed", "rotate", "9" * 30), "no feed with id 999"),
        (("source", "add", "tagmango", "--name", "tm", "--token", "k", "--whitelabel-host", "h"),
         "already exists"),
        (("source", "add", "tagmango", "--name", "t2", "--token", "k", "--whitelabel-host", "h",
          "--api-base", "ftp://[::1"), "--api-base must be an http(s) URL"),
        (("source", "add", "trainercentral", "--name", "tc", "--org-id", "1", "--academy-url",
          "https://a.example.com", "--client-id", "only-this"), "give --access-token, or all"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_non_zero(
    env: dict[str, str], args: tuple[str, ...], message: str
) -> None:
    add_tagmango(env)
    code, _, err = run(env, *args)
    assert code == 1
    assert err.startswith("calbridge: error:") and err.count("\n") == 1
    assert message in err


def test_expiry_and_scope_are_checked(env: dict[str, str]) -> None:
    add_tagmango(env)
    _, out, _ = run(env, "feed", "create", "--name", "x", "--source", "tm", "--json")
    feed_id = str(json.loads(out)["id"])
    code, _, err = run(env, "feed", "share", feed_id, "--expires", "2001-01-01")
    assert code == 1 and "in the past" in err
    code, _, err = run(env, "feed", "share", feed_id, "--expires", "9999-12-31T23:00:00-23:00")
    assert code == 1 and "out of range" in err
    code, _, err = run(env, "feed", "share", feed_id, "--scope", "everything")
    assert code == 2 and "everything" in err  # click's own usage error


def test_an_expiry_date_ends_with_that_day_in_the_feeds_zone(env: dict[str, str]) -> None:
    add_tagmango(env)
    _, out, _ = run(
        env, "feed", "create", "--name", "x", "--source", "tm", "--timezone", "Pacific/Kiritimati",
        "--json",
    )  # fmt: skip
    code, out, err = run(
        env, "feed", "share", str(json.loads(out)["id"]), "--expires", "2030-01-01", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["expires_at"] == "2030-01-01T09:59:59.999999+00:00"  # 23:59:59 +14


def test_narrowing_a_trainercentral_source_is_refused(env: dict[str, str]) -> None:
    code, _, err = run(
        env, "source", "add", "trainercentral", "--name", "tc", "--org-id", "1",
        "--academy-url", "https://a.example.com", "--access-token", "t",
    )  # fmt: skip
    assert code == 0, err
    code, _, err = run(env, "feed", "create", "--name", "x", "--source", "tc", "--user", "u1")
    assert code == 1 and "narrow TagMango sources only" in err


def test_a_feed_cannot_widen_its_source(env: dict[str, str]) -> None:
    code, _, err = run(
        env, "source", "add", "tagmango", "--name", "alice", "--token", "k",
        "--whitelabel-host", "h", "--user", "u-alice", "--mangoes", "m1,m2",
    )  # fmt: skip
    assert code == 0, err
    base = ("feed", "create", "--name", "x", "--source", "alice")
    code, _, err = run(env, *base, "--user", "u-bob")
    assert code == 1 and "only reads user u-alice's calls" in err
    code, _, err = run(env, *base, "--mangoes", "m2,m3")
    assert code == 1 and "m3 is outside it" in err
    assert run(env, *base, "--mangoes", "m2")[0] == 0


def test_revoked_feed_cannot_be_rotated_or_exported(env: dict[str, str], tmp_path: Path) -> None:
    add_tagmango(env)
    _, out, _ = run(env, "feed", "create", "--name", "x", "--source", "tm", "--json")
    feed_id = str(json.loads(out)["id"])
    assert run(env, "feed", "revoke", feed_id)[0] == 0
    for args in (("feed", "rotate", feed_id), ("feed", "export", feed_id)):
        code, _, err = run(env, *args)
        assert code == 1 and "revoked" in err
    code, _, err = run(env, "feed", "export", "42", "-o", str(tmp_path / "x.ics"))
    assert code == 1 and "no feed with id 42" in err


def test_reencrypt_after_a_key_rotation(env: dict[str, str]) -> None:
    add_tagmango(env)
    rotated = {**env, "CALBRIDGE_SECRET_KEY": "a-brand-new-key-0123456789"}
    rotated["CALBRIDGE_SECRET_KEY_FALLBACKS"] = env["CALBRIDGE_SECRET_KEY"]
    code, out, err = run(rotated, "reencrypt")
    assert code == 0, err
    assert out.startswith("re-encrypted 1 stored secrets")
    with Store(
        env["CALBRIDGE_DATABASE_URL"], CredentialBox(rotated["CALBRIDGE_SECRET_KEY"])
    ) as new:
        assert new.source_credentials(new.source_by_name("tm")) == {"token": "k"}


def test_a_tagmango_source_prints_its_secret_webhook_url(env: dict[str, str]) -> None:
    added = add_tagmango(env)
    url = added["webhook_url"]
    assert url.startswith("https://cal.example.com/hooks/tagmango/") and len(url) > 60
    code, out, _ = run(env, "source", "show", "tm", "--json")
    assert code == 0 and json.loads(out)["webhook_url"] == url  # the same secret, every time
    code, out, _ = run(env, "source", "webhooks", "tm")
    assert code == 0 and out.strip() == url


def test_webhooks_of_an_unknown_or_trainercentral_source_are_one_clear_line(
    env: dict[str, str],
) -> None:
    code, _, err = run(env, "source", "webhooks", "nope", "--register")
    assert (
        code == 1
        and err == "calbridge: error: no source named 'nope' (see `calbridge source list`)\n"
    )
    code, _, err = run(
        env, "source", "add", "trainercentral", "--name", "tc", "--org-id", "1",
        "--academy-url", "https://a.trainercentral.com", "--access-token", "t",
    )  # fmt: skip
    assert code == 0, err
    code, _, err = run(env, "source", "webhooks", "tc")
    assert code == 1 and "not a TagMango source" in err
    code, _, err = run(env, "source", "webhooks", "tc", "--register")
    assert code == 1 and "only TagMango sources have webhooks" in err
