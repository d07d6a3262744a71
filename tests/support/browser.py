"""A real browser for the end-to-end tests: Debian's chromium
(/usr/bin/chromium, or $CHROMIUM), headless, driven by Playwright; never a
browser download. One per test module (the `browser` fixture in
tests/e2e/conftest.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def launched_browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM}; .ci/run installs it "
                    "(apt-get install chromium chromium-driver)")
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


def new_page(browser: Any, javascript: bool = False) -> Any:
    # JavaScript off by default: the pages must be readable without it.
    context = browser.new_context(java_script_enabled=javascript, viewport={"width": 1000, "height": 900})
    return context.new_page()
