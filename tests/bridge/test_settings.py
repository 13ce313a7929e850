"""Settings read from CALBRIDGE_* variables: defaults, parsing, and one clear error per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.settings import DEFAULT_CACHE_TTL, Settings, SettingsError

KEY = "k" * 32


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"CALBRIDGE_SECRET_KEY": KEY, **env}, instance_path=tmp_path)


def test_defaults(tmp_path: Path) -> None:
    result = settings(tmp_path)
    assert result.secret_key == KEY
    assert result.secret_key_fallbacks == ()
    assert result.instance_path == tmp_path
    assert result.database_url == f"sqlite:///{tmp_path.as_posix()}/calbridge.db"
    assert result.public_url == "http://127.0.0.1:8000"
    assert result.admin_token is None
    assert result.cache_ttl == DEFAULT_CACHE_TTL == 600


def test_every_variable(tmp_path: Path) -> None:
    result = settings(
        tmp_path,
        CALBRIDGE_SECRET_KEY_FALLBACKS=f" {'a' * 20} ,, {'b' * 20},",
        CALBRIDGE_DATABASE_URL="postgresql://calbridge:pw@127.0.0.1:5432/calbridge",
        CALBRIDGE_PUBLIC_URL="https://cal.example.com/bridge/",
        CALBRIDGE_ADMIN_TOKEN="  admin-token  ",
        CALBRIDGE_CACHE_TTL=" 0 ",
    )
    assert result.secret_key_fallbacks == ("a" * 20, "b" * 20)
    assert result.database_url == "postgresql://calbridge:pw@127.0.0.1:5432/calbridge"
    assert result.public_url == "https://cal.example.com/bridge"
    assert result.admin_token == "admin-token"
    assert result.cache_ttl == 0


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CALBRIDGE_SECRET_KEY", KEY)
    monkeypatch.setenv("CALBRIDGE_CACHE_TTL", "42")
    monkeypatch.setenv("CALBRIDGE_INSTANCE_PATH", str(tmp_path / "state"))
    result = Settings.from_env()
    assert result.cache_ttl == 42
    assert result.instance_path == tmp_path / "state"


def test_instance_path_argument_wins_and_default_is_cwd(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = {"CALBRIDGE_SECRET_KEY": KEY, "CALBRIDGE_INSTANCE_PATH": "/elsewhere"}
    assert Settings.from_env(env, instance_path=tmp_path).instance_path == tmp_path
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env({"CALBRIDGE_SECRET_KEY": KEY}).instance_path == tmp_path / "instance"


@pytest.mark.parametrize("value", ["", "   "])
def test_missing_secret_key(tmp_path: Path, value: str) -> None:
    with pytest.raises(SettingsError, match=r"^CALBRIDGE_SECRET_KEY is not set"):
        Settings.from_env({"CALBRIDGE_SECRET_KEY": value}, instance_path=tmp_path)
    with pytest.raises(SettingsError, match=r"^CALBRIDGE_SECRET_KEY is not set"):
        Settings.from_env({}, instance_path=tmp_path)


def test_short_keys_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="CALBRIDGE_SECRET_KEY must be at least 16"):
        Settings.from_env({"CALBRIDGE_SECRET_KEY": "short"}, instance_path=tmp_path)
    with pytest.raises(SettingsError, match="CALBRIDGE_SECRET_KEY_FALLBACKS must be at least 16"):
        settings(tmp_path, CALBRIDGE_SECRET_KEY_FALLBACKS="old")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ten", "must be a whole number of seconds, not 'ten'"),
        ("1.5", "must be a whole number of seconds, not '1.5'"),
        ("-1", "must not be negative, got -1"),
    ],
)
def test_bad_cache_ttl(tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=rf"^CALBRIDGE_CACHE_TTL {message}"):
        settings(tmp_path, CALBRIDGE_CACHE_TTL=value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not a url", "is not a database URL"),
        ("mysql://root:hunter22@127.0.0.1/db", "uses 'mysql'"),
    ],
)
def test_bad_database_url(tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message) as raised:
        settings(tmp_path, CALBRIDGE_DATABASE_URL=value)
    assert "hunter22" not in str(raised.value)


@pytest.mark.parametrize(
    "value",
    [
        "ftp://cal.example.com",
        "cal.example.com",
        "https://",
        "https://cal.example.com/?x=1",
        "https://cal.example.com/#top",
        "https://user@cal.example.com",
        "http://cal.example.com:port",
    ],
)
def test_bad_public_url(tmp_path: Path, value: str) -> None:
    with pytest.raises(SettingsError, match=r"^CALBRIDGE_PUBLIC_URL .* is not an http\(s\) origin"):
        settings(tmp_path, CALBRIDGE_PUBLIC_URL=value)


def test_secrets_stay_out_of_repr(tmp_path: Path) -> None:
    result = settings(
        tmp_path,
        CALBRIDGE_ADMIN_TOKEN="admin-secret-value",
        CALBRIDGE_DATABASE_URL="postgresql://u:db-password@127.0.0.1/x",
    )
    text = repr(result)
    for secret in (KEY, "admin-secret-value", "db-password"):
        assert secret not in text
    assert "cache_ttl=600" in text


def test_for_demo(tmp_path: Path) -> None:
    first = Settings.for_demo(tmp_path, "http://127.0.0.1:9000/")
    second = Settings.for_demo(tmp_path)
    assert first.secret_key != second.secret_key
    assert len(first.secret_key) >= 32
    assert first.public_url == "http://127.0.0.1:9000"
    assert second.public_url == "http://127.0.0.1:8000"
    assert first.database_url == f"sqlite:///{tmp_path.as_posix()}/calbridge.db"
    assert first.admin_token is None
    with pytest.raises(SettingsError, match="CALBRIDGE_PUBLIC_URL"):
        Settings.for_demo(tmp_path, "nonsense")


def test_settings_are_frozen(tmp_path: Path) -> None:
    result = settings(tmp_path)
    with pytest.raises(AttributeError):
        result.cache_ttl = 5  # type: ignore[misc]


def test_the_job_queue_defaults_to_a_file_in_the_instance_folder(tmp_path: Path) -> None:
    assert settings(tmp_path).queue_location == f"sqlite:///{tmp_path.as_posix()}/queue.db"
    for url in ("redis://cache:6379/0", "postgresql://u@db/jobs", "sqlite:////var/q.db"):
        assert settings(tmp_path, CALBRIDGE_QUEUE_URL=f" {url} ").queue_location == url


@pytest.mark.parametrize("value", ["amqp://rabbit/", "queue.db", "http://redis:6379"])
def test_an_unknown_queue_url_is_refused_with_the_choices(tmp_path: Path, value: str) -> None:
    with pytest.raises(SettingsError, match="CALBRIDGE_QUEUE_URL must be a sqlite:///path"):
        settings(tmp_path, CALBRIDGE_QUEUE_URL=value)


def test_a_refused_queue_url_never_shows_its_password(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as refused:
        settings(tmp_path, CALBRIDGE_QUEUE_URL="amqp://guest:hunter2@rabbit/")
    assert "hunter2" not in str(refused.value) and "amqp://" in str(refused.value)


def test_the_first_uid_domain_is_the_given_one_else_the_public_urls_host(tmp_path: Path) -> None:
    assert settings(tmp_path).uid_domain is None
    assert settings(tmp_path).first_uid_domain == "127.0.0.1"
    moved = settings(tmp_path, CALBRIDGE_PUBLIC_URL="https://Cal.Example.com:8443/bridge")
    assert moved.first_uid_domain == "cal.example.com"
    given = settings(tmp_path, CALBRIDGE_UID_DOMAIN=" Events.Example.COM. ")
    assert given.uid_domain == given.first_uid_domain == "events.example.com"


@pytest.mark.parametrize("value", ["a b.example", "x@y.example", "-bad.example", "a..b", "é.fr"])
def test_a_uid_domain_that_is_not_a_domain_name_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(SettingsError, match="CALBRIDGE_UID_DOMAIN must be a domain name"):
        settings(tmp_path, CALBRIDGE_UID_DOMAIN=value)
