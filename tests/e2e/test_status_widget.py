"""Atlassian's own embeddable widget, `@statuspage/status-widget` (npm,
pinned in tests/support/npm.py, installed at test time outside the
repository), reads our summary from a page on another origin in headless
Chromium (docs/contract.md §11, issue 14).

What the package needs, read from its source (the sourcemap's
`src/index.ts`, `util/fetch_status.ts`, `templates/basic.ts`):
- one script, `dist/index.js` (the README's; babel polyfill, skatejs and
  lit-html bundled in; Chromium needs no web-components polyfill);
- `<statuspage-widget src="BASE">`: `src` is any URL; the widget keeps its
  origin and *replaces its path* with `/api/v2/summary.json`
  (`url.pathname = path`), so the status must be served at the root of an
  origin, as the stack's API is, and nothing pins `*.statuspage.io`;
- it renders, in an open shadow root, `.status-indicator.<indicator>` and
  `.status-text` holding `status.description`, inside a link to `src`;
- it caches each summary in memory for 30 s, so a new load of the page (not
  the same page's JavaScript) is what shows a new status.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import Api
from tests.support.browser import new_page
from tests.support.npm import STATUS_WIDGET, npm_package

pytestmark = pytest.mark.e2e
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Customer site</title>
<script src="/status-widget.js"></script></head>
<body><p>Our provider's status:</p><statuspage-widget src="{src}"></statuspage-widget></body></html>"""


@pytest.fixture(scope="module")
def widget_js() -> bytes:
    return (npm_package(STATUS_WIDGET) / "dist" / "index.js").read_bytes()


@pytest.fixture(scope="module")
def customer_site(stack: Any, widget_js: bytes) -> Iterator[str]:
    """A customer's page on another loopback origin embedding the widget, pointed at the stack."""
    parts = urlsplit(stack.api_url)
    assert parts.path in ("", "/"), f"the widget reads /api/v2/summary.json at its src's root, not {parts.path}"
    page = PAGE.format(src=stack.api_url).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            body, kind = (widget_js, "text/javascript") if path == "/status-widget.js" else (page, "text/html")
            self.send_response(200)
            self.send_header("Content-Type", f"{kind}; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    site = f"http://127.0.0.1:{server.server_address[1]}"
    assert urlsplit(site).netloc != parts.netloc  # another origin: CORS is what lets the widget read
    yield site
    server.shutdown()
    server.server_close()


def shown(page: Any) -> tuple[str, str]:
    """The widget's text and indicator class, once it has rendered (Playwright's CSS pierces its shadow root)."""
    text = page.locator("statuspage-widget .status-text")
    text.wait_for(timeout=15_000)
    indicator = page.locator("statuspage-widget .status-indicator").get_attribute("class") or ""
    return text.inner_text().strip(), indicator


def test_atlassians_widget_on_another_origin_shows_our_status_and_its_change(
        stack: Any, api: Api, customer_site: str, browser: Any) -> None:
    # GIVEN a customer's page on another origin embedding the widget, pointed at our stack
    page = new_page(browser, javascript=True)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(f"{customer_site}/")
    # THEN it fetched our summary across origins and shows that all is well
    assert shown(page) == ("All Systems Operational", "status-indicator none")
    assert page.locator("statuspage-widget a").get_attribute("href") == stack.api_url
    # WHEN staff open an incident that takes a component down
    api("PUT", "/v1/components/api", {"name": "API", "position": 0})
    opened = api("POST", "/v1/incidents", {
        "name": "API unreachable", "status": "investigating", "body": "Every API request fails.",
        "components": {"api": "major_outage"}}, headers={"Idempotency-Key": "widget-outage"})
    assert opened.status in (200, 201), opened.raw
    stack.wait_idle(timeout=120)
    # AND the customer loads the page again. Our summary is served with max-age=30, so the same
    # browser may show its cached copy for up to 30 s (a reload, even with the cache disabled over
    # CDP, did here): a new browser context, whose cache is empty, stands for "30 s later".
    page.context.close()
    page = new_page(browser, javascript=True)
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(f"{customer_site}/")
    # THEN the widget shows the new status: a major outage is `critical`, drawn red
    assert shown(page) == ("Major System Outage", "status-indicator critical")
    assert errors == []
