"""The normalized Session refuses what it cannot represent faithfully."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from feeds.model import InvalidSession, Session, SourceKind, Status, is_web_url

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
