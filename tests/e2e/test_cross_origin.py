"""Another site reads the public surface from a browser (docs/contract.md
§11): a page served from another loopback origin fetches the status JSON in
headless Chromium, as an embedded widget does. Without
`Access-Control-Allow-Origin` the browser refuses to hand it over."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.conftest import Api, http
from tests.support.browser import new_page

pytestmark = pytest.mark.e2e
EMBED = """<!doctype html><html><body><p id="status">loading</p><p id="preflighted">loading</p><script>
const base = new URL(location.href).searchParams.get("base");
fetch(base + "/api/v2/summary.json")
  .then(r => r.json()).then(d => { document.getElementById("status").textContent = d.status.description; })
  .catch(e => { document.getElementById("status").textContent = "blocked: " + e; });
// A header no simple request may carry: the browser asks first (OPTIONS).
fetch(base + "/api/v2/status.json", {headers: {"X-Widget-Version": "1"}})
  .then(r => r.json()).then(d => { document.getElementById("preflighted").textContent = d.status.indicator; })
  .catch(e => { document.getElementById("preflighted").textContent = "blocked: " + e; });
</script></body></html>"""


@pytest.fixture(scope="module")
def other_site() -> Iterator[str]:
    """A customer's page on another origin (another port of loopback)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = EMBED.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_every_public_artifact_allows_any_origin_and_answers_preflights(stack: Any, api: Api) -> None:
    for path in ("/api/v2/summary.json", "/api/v2/status.json", "/history.rss", "/index.html", "/nope.json"):
        reply = http(stack.api_url + path, headers={"Origin": "https://customer.example"})
        assert reply.headers.get("Access-Control-Allow-Origin") == "*", path
    asked = http(stack.api_url + "/api/v2/summary.json", method="OPTIONS", headers={
        "Origin": "https://customer.example", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "x-widget-version"})
    assert asked.status == 204
    assert asked.headers["Access-Control-Allow-Origin"] == "*"
    assert "GET" in asked.headers["Access-Control-Allow-Methods"]
    assert "x-widget-version" in asked.headers["Access-Control-Allow-Headers"].lower()


def test_a_page_on_another_origin_reads_the_status_in_a_real_browser(stack: Any, api: Api, other_site: str,
                                                                     browser: Any) -> None:
    page = new_page(browser, javascript=True)
    page.goto(f"{other_site}/embed.html?base={stack.api_url}")
    page.wait_for_function("document.getElementById('status').textContent !== 'loading' && "
                           "document.getElementById('preflighted').textContent !== 'loading'")
    assert page.text_content("#status") == "All Systems Operational"
    assert page.text_content("#preflighted") == "none"
