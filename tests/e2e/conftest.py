"""What the end-to-end modules share beyond tests/conftest.py: the browser."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.browser import launched_browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium for this module (skips where Debian's chromium is missing)."""
    yield from launched_browser()
