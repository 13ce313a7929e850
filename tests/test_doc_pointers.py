"""Every file a docstring or comment under bridge/, feeds/ or tests/ points at exists, and every
section it names (`<file>.md, *Section*`) is a heading of that file."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# A repository path (bridge/…, docs/…) or any Markdown file, with or without its folder.
_PATH = re.compile(
    r"(?<![\w/.:-])((?:bridge|feeds|tests|docs|bench)/(?:[\w.-]+/)*[\w.-]*[\w-]|(?:[\w.-]+/)*[\w-]+\.md)(?![\w/-])"
)
# "docs/client-compatibility.md, *Time zones*" (the section may wrap onto a comment line).
_SECTION = re.compile(r"([\w/-]+\.md), \*([^*]+)\*")
_WRAP = re.compile(r"\s*\n\s*(?:#\s*)?")


def python_files() -> list[Path]:
    listed = subprocess.run(
        [
            "git",
            "ls-files",
            "--cached",
            "--others",
            "--exclude-standard",
            "bridge",
            "feeds",
            "tests",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [ROOT / path for path in listed if path.endswith(".py")]


def resolve(pointer: str, source: Path) -> Path | None:
    candidates = [ROOT / pointer, source.parent / pointer]
    if "/" not in pointer:
        candidates.insert(0, ROOT / "docs" / pointer)
    return next((path for path in candidates if path.exists()), None)


def headings(markdown: Path) -> set[str]:
    return {
        line.lstrip("#").strip()
        for line in markdown.read_text(encoding="utf-8").splitlines()
        if line.startswith("#")
    }


def test_every_pointed_at_file_and_section_exists() -> None:
    missing = []
    for source in python_files():
        text = _WRAP.sub(" ", source.read_text(encoding="utf-8"))
        name = source.relative_to(ROOT)
        for pointer in set(_PATH.findall(text)):
            if resolve(pointer, source) is None:
                missing.append(f"{name}: {pointer} does not exist")
        for pointer, section in set(_SECTION.findall(text)):
            target = resolve(pointer, source)
            if target is not None and section not in headings(target):
                missing.append(f"{name}: {pointer} has no section {section!r}")
    assert missing == []
