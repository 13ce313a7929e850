"""Descriptions from both platforms become readable plain text."""

import pytest

from feeds.text import html_to_text


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("a < b and c > d", "a < b and c > d"),
        ("one\r\n\r\n\r\n\r\ntwo  \n", "one\n\ntwo"),
        ("Line one\rLine two\n\n\n\nEnd  ", "Line one\nLine two\n\nEnd"),
        ("<p>Live Q&amp;A for <b>members</b></p>", "Live Q&A for members"),
        ("Fish &amp; chips", "Fish & chips"),
        ("<p>One</p><p>Two</p>", "One\n\nTwo"),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text
