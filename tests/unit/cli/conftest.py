"""A real HTTP server on loopback standing in for the staff API routes the CLI
calls (keys, audit, templates, subscribers: built on other branches), answering
the shapes docs/contract.md §12 gives them; and the CLI run in-process through
Typer's runner against it."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from typer.testing import CliRunner

from status_fanout_cli import client
from status_fanout_cli.app import app

TOKEN = "sfk_unit-test-key"


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


# An answer: (status, body as JSON-able or bytes, extra headers); None drops the connection unanswered.
Answer = tuple[int, Any, dict[str, str]] | None
Route = Callable[[Seen], Answer]


@dataclass
class FakeApi:
    url: str
    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def on(self, method: str, path: str, route: Route | Answer) -> None:
        if callable(route):
            self.routes[(method, path)] = route
        else:
            fixed: Answer = route
            self.routes[(method, path)] = lambda _seen: fixed


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    api = FakeApi("")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def handle_any(self) -> None:
            parts = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            seen = Seen(self.command, parts.path, urllib.parse.parse_qs(parts.query),
                        {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
            api.seen.append(seen)
            route = api.routes.get((self.command, parts.path))
            if seen.headers.get("authorization") != f"Bearer {TOKEN}":
                answer: Answer = (401, {"error": {"code": "unauthorized", "message": "the staff token is not valid",
                                                  "details": []}}, {})
            elif route is None:
                answer = (404, {"error": {"code": "not_found", "message": "no such route", "details": []}}, {})
            else:
                answer = route(seen)
            if answer is None:
                self.close_connection = True
                self.connection.close()
                return
            status, body, headers = answer[0], answer[1], dict(answer[2])
            raw = body if isinstance(body, bytes) else (b"" if body is None else json.dumps(body).encode())
            self.send_response(status)
            self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Ran:
    exit_code: int
    stdout: str
    stderr: str
    stdout_bytes: bytes


@pytest.fixture
def run(fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Ran]:
    """`status-fanout ARGS` against the fake API, configured by environment."""
    monkeypatch.setattr(client, "BACKOFF_SECONDS", (0.0, 0.0, 0.0))

    def invoke(*args: str, stdin: str = "", token: str = TOKEN) -> Ran:
        env = {"STATUS_FANOUT_API": fake_api.url, "STATUS_FANOUT_TOKEN": token, "NO_COLOR": "1", "COLUMNS": "200"}
        result = CliRunner().invoke(app, list(args), input=stdin, env=env, catch_exceptions=False)
        return Ran(result.exit_code, result.stdout, result.stderr, result.stdout_bytes)

    return invoke
