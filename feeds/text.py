"""Upstream descriptions as plain text: both platforms send HTML from rich-text editors."""

from __future__ import annotations

import functools
import re

from inscriptis import get_text

_LOOKS_LIKE_HTML = re.compile(r"<\s*/?\s*[a-zA-Z!][^>]*>|&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);")
_BLANK_LINES = re.compile(r"\n{3,}")


@functools.lru_cache(maxsize=1024)
def html_to_text(value: str) -> str:
    """A description as readable plain text: paragraphs kept, tags dropped, link text kept.

    Cached: every occurrence of a series repeats its description, and HTML parsing is slow.
    """
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    if _LOOKS_LIKE_HTML.search(text):
        text = get_text(text)
    lines = [line.rstrip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
