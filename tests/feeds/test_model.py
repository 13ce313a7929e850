"""The normalized Session refuses what it cannot represent faithfully."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from feeds.model import InvalidSession, Session, SourceKind, Status, is_web_url, normalize_title

IST = timezone(timedelta(hours=5, minutes=30))


def make(**overrides: object) -> Session:
    fields: dict[str, object] = {
        "source_kind": SourceKind.TAGMANGO,
        "source_name": "main",
        "upstream_id": "abc",
        "title": "Yoga",
        "start": datetime(2026, 3, 1, 10, tzinfo=UTC),
        "end": datetime(2026, 3, 1, 11, tzinfo=UTC),
    }
    fields.update(overrides)
    return Session(**fields)  # type: ignore[arg-type]


def test_instants_are_normalized_to_utc() -> None:
    session = make(
        start=datetime(2026, 3, 1, 15, 30, tzinfo=IST), end=datetime(2026, 3, 1, 16, 30, tzinfo=IST)
    )
    assert session.start == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert session.start.tzinfo is UTC
    assert session.key == "tagmango-abc"
    assert session.status is Status.CONFIRMED and not session.cancelled


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"start": datetime(2026, 3, 1, 10)}, "has no timezone"),
        ({"end": datetime(2026, 3, 1, 9, tzinfo=UTC)}, "is not after start"),
        ({"end": datetime(2026, 3, 1, 10, tzinfo=UTC)}, "is not after start"),
        ({"upstream_id": ""}, "no upstream id"),
        ({"sequence": -1}, "negative sequence"),
    ],
)
def test_invalid_sessions_are_refused_with_a_reason(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidSession, match=message):
        make(**overrides)


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://meet.google.com/abc-defg-hij", True),
        ("HTTP://zoom.us/j/1?pwd=a,b;c", True),
        ("javascript:alert(1)", False),
        ("https://", False),
        ("ftp://files.example.com/x", False),
        ("https://x.example/a\nb", False),
        ("https://x.example/a b", False),
        (" https://x.example/a", False),
        ("https://[::1", False),
        ("//x.example/a", False),
    ],
)
def test_is_web_url_accepts_only_clean_http_addresses(url: str, ok: bool) -> None:
    assert is_web_url(url) is ok


@pytest.mark.parametrize(
    "url",
    [
        "https://zoom.us/j/1234567890?pwd=abc",
        "http://127.0.0.1:8080/room",
        "https://[2001:db8::1]:8443/room",
        "https://xn--yoga-3ve.example/r",  # an IDN in its ASCII form
        "https://meet.example./r",  # fully qualified, trailing dot
        "https://jitsi.example/योग-कक्षा",  # non-ASCII paths are percent-encoded by browsers
        "https://x.example/a%20b#frag",
    ],
)
def test_is_web_url_keeps_real_meeting_links(url: str) -> None:
    assert is_web_url(url)


@pytest.mark.parametrize(
    "url",
    [
        # credentials: the text before @ is shown, the host after it is visited
        "https://user:pass@evil.example/",
        "https://zoom.us@evil.example/",
        "https://@evil.example/",
        # backslashes: browsers read them as /, so these hosts differ between Python and them
        "https://good.example\\@evil.example/",
        "https:\\\\evil.example/",
        "https:/\\evil.example/",
        "https://evil.example\\path",
        # no host, or a host that is not a plain ASCII name or IP address
        "https:evil.example",
        "https:///evil.example",
        "https://:443/",
        "https://%65vil.example/",
        "https://ex\uff0eample.com/",  # full-width dot, which browsers turn into "."
        "https://\u0435xample.com/",  # Cyrillic е: a look-alike of example.com
        "https://[evil.example]/",
        "https://evil.example:99999/",
        "https://evil.example:https/",
        # invisible or reinterpreted characters anywhere
        "https://exa\u200bmple.com/",
        "https://\u202eelpmaxe.live/",
        "https://ev\u00a0il.example/",
        "https://evil.example/\u2028",
        "https://evil.example/\u00ad",
        "https://evil.example/\x7f",
        "https://evil.example/\x00",
        "java\tscript:alert(1)",
        "https://evil.example/\r\nSet-Cookie: a=1",
    ],
)
def test_is_web_url_refuses_what_a_browser_would_read_otherwise(url: str) -> None:
    assert not is_web_url(url)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("Yoga", "Yoga"),
        ("Yoga ", "Yoga"),
        ("  Yoga   flow \t level\n1 ", "Yoga flow level 1"),
        ("Yoga\u00a0\u2003flow\u2028", "Yoga flow"),
        ("Yoga\x00 flow\x7f ", "Yoga flow"),
        ("   ", ""),
        ("योग  सत्र 🎉", "योग सत्र 🎉"),
    ],
)
def test_titles_are_normalised_once_for_every_client(raw: str, shown: str) -> None:
    assert normalize_title(raw) == shown
    session = make(title=raw, product_title=raw)
    assert session.title == shown and session.product_title == (shown or None)
