"""Typed settings for the bridge service, read from CALBRIDGE_* environment variables.

Every problem is reported as one `SettingsError` sentence naming the variable, so the
operator sees what to fix before the service starts, never a stack trace later.

    CALBRIDGE_SECRET_KEY            required outside the demo; signs links, encrypts credentials
    CALBRIDGE_SECRET_KEY_FALLBACKS  comma-separated old keys still accepted during a key rotation
    CALBRIDGE_DATABASE_URL          default sqlite:///<instance path>/calbridge.db
    CALBRIDGE_PUBLIC_URL            origin used in links; default http://127.0.0.1:8000
    CALBRIDGE_UID_DOMAIN            domain of every event UID, fixed at the first start (then
                                    stored); default the host of CALBRIDGE_PUBLIC_URL then
    CALBRIDGE_ADMIN_TOKEN           bearer token of the admin API; unset: admin API disabled
    CALBRIDGE_METRICS_TOKEN         bearer token /metrics requires from every client; unset:
                                    the admin token, and without that only loopback clients
                                    of a loopback CALBRIDGE_PUBLIC_URL (e.g. the demo)
    CALBRIDGE_CACHE_TTL             seconds an upstream result is reused; default 600
    CALBRIDGE_INSTANCE_PATH         folder for the SQLite file and local state; default ./instance
    CALBRIDGE_QUEUE_URL             the background job queue: default a SQLite file in the instance
                                    folder; redis://host:6379/0 or postgresql://… at scale
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

MIN_SECRET_KEY_LENGTH = 16
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
DEFAULT_CACHE_TTL = 600
DATABASE_BACKENDS = ("sqlite", "postgresql", "postgres")
QUEUE_SCHEMES = ("sqlite", "redis", "rediss", "postgresql", "postgres")
FALLBACK_UID_DOMAIN = "calbridge.local"  # for Settings built by hand with a hostless public URL
_DNS_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_UID_DOMAIN = re.compile(rf"{_DNS_LABEL}(?:\.{_DNS_LABEL})*")


class SettingsError(ValueError):
    """A configuration value is missing or malformed (the message says which and why)."""


@dataclass(frozen=True)
class Settings:
    """The service configuration. Secrets are kept out of `repr` so logs never show them."""

    secret_key: str = field(repr=False)
    instance_path: Path
    database_url: str = field(repr=False)
    public_url: str = DEFAULT_PUBLIC_URL
    secret_key_fallbacks: tuple[str, ...] = field(default=(), repr=False)
    admin_token: str | None = field(default=None, repr=False)
    metrics_token: str | None = field(default=None, repr=False)
    cache_ttl: int = DEFAULT_CACHE_TTL
    queue_url: str = ""  # empty: sqlite:///<instance path>/queue.db (see `queue_location`)
    uid_domain: str | None = None  # None: the public URL's host (see `first_uid_domain`)

    @property
    def queue_location(self) -> str:
        """The job queue's URL, with the default filled in."""
        return self.queue_url or f"sqlite:///{(self.instance_path / 'queue.db').as_posix()}"

    @property
    def first_uid_domain(self) -> str:
        """The UID domain an installation's first start stores: CALBRIDGE_UID_DOMAIN, else the
        host of the public URL. Later starts use the stored one (bridge.services)."""
        return self.uid_domain or urlsplit(self.public_url).hostname or FALLBACK_UID_DOMAIN

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        instance_path: Path | str | None = None,
    ) -> Settings:
        """Read and check the CALBRIDGE_* variables (`os.environ` unless `environ` is given).

        `instance_path` (e.g. Flask's `app.instance_path`) wins over CALBRIDGE_INSTANCE_PATH.
        """
        env = os.environ if environ is None else environ
        instance = _instance_path(env, instance_path)
        secret_key = _secret_key(env.get("CALBRIDGE_SECRET_KEY", ""))
        return cls(
            secret_key=secret_key,
            secret_key_fallbacks=_fallbacks(env.get("CALBRIDGE_SECRET_KEY_FALLBACKS", "")),
            instance_path=instance,
            database_url=_database_url(env.get("CALBRIDGE_DATABASE_URL", ""), instance),
            public_url=_public_url(env.get("CALBRIDGE_PUBLIC_URL", "")),
            admin_token=env.get("CALBRIDGE_ADMIN_TOKEN", "").strip() or None,
            metrics_token=env.get("CALBRIDGE_METRICS_TOKEN", "").strip() or None,
            cache_ttl=_cache_ttl(env.get("CALBRIDGE_CACHE_TTL", "")),
            queue_url=_queue_url(env.get("CALBRIDGE_QUEUE_URL", "")),
            uid_domain=_uid_domain(env.get("CALBRIDGE_UID_DOMAIN", "")),
        )

    @classmethod
    def for_demo(cls, instance_path: Path | str, public_url: str = DEFAULT_PUBLIC_URL) -> Settings:
        """Settings for `calbridge demo`: a random key and a SQLite file in `instance_path`."""
        instance = Path(instance_path)
        return cls(
            secret_key=secrets.token_urlsafe(32),
            instance_path=instance,
            database_url=_database_url("", instance),
            public_url=_public_url(public_url),
        )


def _instance_path(env: Mapping[str, str], given: Path | str | None) -> Path:
    if given is not None:
        return Path(given)
    configured = env.get("CALBRIDGE_INSTANCE_PATH", "").strip()
    return Path(configured) if configured else Path.cwd() / "instance"


def _check_key(value: str, variable: str) -> str:
    if len(value) < MIN_SECRET_KEY_LENGTH:
        raise SettingsError(
            f"{variable} must be at least {MIN_SECRET_KEY_LENGTH} characters long; generate one "
            "with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return value


def _secret_key(raw: str) -> str:
    value = raw.strip()
    if not value:
        raise SettingsError(
            "CALBRIDGE_SECRET_KEY is not set; generate one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return _check_key(value, "CALBRIDGE_SECRET_KEY")


def _fallbacks(raw: str) -> tuple[str, ...]:
    keys = [part.strip() for part in raw.split(",") if part.strip()]
    return tuple(_check_key(key, "each key in CALBRIDGE_SECRET_KEY_FALLBACKS") for key in keys)


def _database_url(raw: str, instance_path: Path) -> str:
    value = raw.strip()
    if not value:
        return f"sqlite:///{(instance_path / 'calbridge.db').as_posix()}"
    try:
        url = make_url(value)
    except ArgumentError:
        raise SettingsError(
            "CALBRIDGE_DATABASE_URL is not a database URL; expected e.g. "
            "sqlite:////var/lib/calbridge/calbridge.db or postgresql://user@host/db"
        ) from None
    if url.get_backend_name() not in DATABASE_BACKENDS:
        raise SettingsError(
            f"CALBRIDGE_DATABASE_URL uses {url.get_backend_name()!r}; "
            "calbridge supports sqlite:// and postgresql:// URLs"
        )
    return value


def _public_url(raw: str) -> str:
    value = raw.strip() or DEFAULT_PUBLIC_URL
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or parts.username is not None
    ):
        raise SettingsError(
            f"CALBRIDGE_PUBLIC_URL {value!r} is not an http(s) origin like "
            "https://calendar.example.com (optionally with a path, no query or fragment)"
        )
    return value.rstrip("/")


def _cache_ttl(raw: str) -> int:
    value = raw.strip()
    if not value:
        return DEFAULT_CACHE_TTL
    try:
        seconds = int(value)
    except ValueError:
        raise SettingsError(
            f"CALBRIDGE_CACHE_TTL must be a whole number of seconds, not {value!r}"
        ) from None
    if seconds < 0:
        raise SettingsError(f"CALBRIDGE_CACHE_TTL must not be negative, got {seconds}")
    return seconds


def _queue_url(raw: str) -> str:
    value = raw.strip()
    if not value:
        return ""
    scheme = urlsplit(value).scheme.split("+")[0].lower()
    if scheme not in QUEUE_SCHEMES:
        shown = f"a {scheme}:// URL" if scheme else repr(value.split("@")[-1])  # no password
        raise SettingsError(
            f"CALBRIDGE_QUEUE_URL must be a sqlite:///path, redis://host:port/db or "
            f"postgresql://user@host/db URL, not {shown}"
        )
    return value


def _uid_domain(raw: str) -> str | None:
    value = raw.strip().lower().rstrip(".")
    if not raw.strip():
        return None
    if len(value) > 253 or not _UID_DOMAIN.fullmatch(value):
        raise SettingsError(
            f"CALBRIDGE_UID_DOMAIN must be a domain name such as cal.example.com, not {raw!r}"
        )
    return value
