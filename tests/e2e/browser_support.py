"""Helpers for the browser tests: Debian's chromium through Playwright, kept off the network.

- `launch_chromium(playwright)` starts headless chromium with the flags CI uses, or skips the
  test with a clear reason when chromium is missing (fails instead when CI=true).
- `Visitor(browser, ...)` is a browser profile that may only reach 127.0.0.1 (anything else
  is aborted and recorded), records console errors, and can be granted clipboard access;
  `visitor.open(url, viewport=, color_scheme=, axe=)` opens a page.
- `axe_violations(page)` runs axe-core from node_modules, offline (`open(axe=True)` adds it
  as an init script, which the page's Content-Security-Policy does not block), and returns
  the serious and critical violations.
- `decode_qr(png)` reads a QR code from a screenshot with zxing-cpp.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO = Path(__file__).resolve().parents[2]
AXE_SCRIPT = REPO / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = REPO / "docs" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def missing(reason: str) -> NoReturn:
    """Skip with `reason`, except in CI (CI=true), where a missing tool is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: browser tests must run in CI)")
    pytest.skip(reason)


def chromium_path() -> str:
    """Debian's chromium, or skip/fail when it is not installed."""
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    found = shutil.which("chromium")
    if found is None:
        missing(
            f"chromium is not installed ({CHROMIUM}); install it with: apt-get install chromium"
        )
    return found


def launch_chromium(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)


@dataclass
class PageLog:
    """The console errors and uncaught errors of one page."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def console(self, message: Any) -> None:
        if message.type == "error":
            self.console_errors.append(f"{message.text} ({message.location.get('url')})")

    @property
    def clean(self) -> bool:
        return not self.console_errors and not self.page_errors


# Everything but the loopback address; matched inside the browser driver, so loopback
# requests are not routed through Python at all.
NOT_LOOPBACK = re.compile(r"^(?!https?://127\.0\.0\.1[:/])")


class Visitor:
    """One person's browser profile (a Playwright context): time zone, clipboard, JavaScript.

    Requests to anything but 127.0.0.1 are aborted and recorded in `blocked`.
    """

    def __init__(
        self,
        browser: Any,
        *,
        timezone_id: str = "America/New_York",
        clipboard: bool = False,
        javascript: bool = True,
    ) -> None:
        self.context = browser.new_context(
            viewport=DESKTOP,
            timezone_id=timezone_id,
            locale="en-GB",
            java_script_enabled=javascript,
            service_workers="block",
        )
        self.context.set_default_timeout(10_000)  # fail fast: every page here is local
        self.blocked: list[str] = []
        self.context.route(NOT_LOOPBACK, self._block)
        if clipboard:
            self.context.grant_permissions(["clipboard-read", "clipboard-write"])

    def _block(self, route: Any) -> None:
        self.blocked.append(route.request.url)
        route.abort("blockedbyclient")

    def open(
        self,
        url: str | None = None,
        *,
        viewport: dict[str, int] = DESKTOP,
        color_scheme: str = "light",
        axe: bool = False,
    ) -> tuple[Any, PageLog]:
        """A new page (axe-core loaded in every document when `axe`), at `url` if given."""
        page = self.context.new_page()
        log = PageLog()
        page.on("console", log.console)
        page.on("pageerror", lambda error: log.page_errors.append(str(error)))
        page.set_viewport_size(viewport)
        page.emulate_media(color_scheme=color_scheme)
        if axe:
            if not AXE_SCRIPT.exists():
                missing(f"axe-core is not installed ({AXE_SCRIPT}); run: npm ci")
            page.add_init_script(path=str(AXE_SCRIPT))
        if url is not None:
            page.goto(url)
        return page, log

    def close(self) -> None:
        self.context.close()


def axe_violations(page: Any, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """Run axe-core in a page opened with `axe=True`; one line per violation."""
    assert page.evaluate("() => typeof axe") == "object", "open the page with axe=True"
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    lines = []
    for violation in result["violations"]:
        if violation.get("impact") in impacts:
            targets = [json.dumps(node["target"]) for node in violation["nodes"]][:5]
            lines.append(f"{violation['impact']}: {violation['id']}: {violation['help']} {targets}")
    return lines


def decode_qr(png: bytes) -> list[str]:
    """The texts of the QR codes in a PNG screenshot."""
    import zxingcpp
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L")
    return [barcode.text for barcode in zxingcpp.read_barcodes(image)]
