"""Real HTTP receivers on loopback, each path with a scripted behaviour: webhook
endpoints (POST), and CloudFormation's ResponseURL for custom resources (PUT)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Given the 1-based number of the request to this path, answer
# (status, headers, body), or sleep first by returning a negative status
# whose absolute value is seconds to hang.
Behaviour = Callable[[int], tuple[int, dict[str, str], bytes]]


def ok(_: int) -> tuple[int, dict[str, str], bytes]:
    return 200, {}, b"ok"


def fail_first(times: int, status: int = 503, headers: dict[str, str] | None = None) -> Behaviour:
    def behave(n: int) -> tuple[int, dict[str, str], bytes]:
        return (status, headers or {}, b"down") if n <= times else (200, {}, b"ok")
    return behave


def always(status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> Behaviour:
    return lambda _: (status, headers or {}, body)


# What each chat app's incoming webhook answers a message it accepts (docs/chat.md).
APP_SUCCESS: dict[str, tuple[int, dict[str, str], bytes]] = {
    "slack": (200, {"Content-Type": "text/plain"}, b"ok"),
    "teams": (202, {}, b""),
    "discord": (204, {}, b""),
    "google_chat": (200, {"Content-Type": "application/json"}, b'{"name": "spaces/AAA/messages/BBB"}'),
}


def app_like(app: str) -> Behaviour:
    return lambda _: APP_SUCCESS[app]


def then_app_like(first: Behaviour, times: int, app: str) -> Behaviour:
    """`first` for the first `times` requests, then the app's own success."""
    return lambda n: first(n) if n <= times else APP_SUCCESS[app]


def hang(seconds: float) -> Behaviour:
    return lambda _: (-int(seconds * 1000), {}, b"")


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    status: int
    method: str = "POST"

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receivers:
    url: str
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def delivered(self, path: str) -> list[Received]:
        return [r for r in self.at(path) if 200 <= r.status < 300]

    def wait_for(self, condition: Callable[[], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out; received: {[(r.path, r.status) for r in self.received]}")


@contextmanager
def receivers(behaviours: dict[str, Behaviour] | None = None) -> Iterator[Receivers]:
    state = Receivers(url="", behaviours=dict(behaviours or {}))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with state.lock:
                count = sum(1 for r in state.received if r.path == self.path) + 1
            status, headers, reply = state.behaviours.get(self.path, ok)(count)
            hang_seconds = -status / 1000 if status < 0 else 0
            status = 200 if status < 0 else status
            # Recorded on arrival: a hanging answer still counts as an attempt now,
            # never as a delivery (status 0): every hang in these tests outlasts
            # the sender's attempt timeout.
            with state.lock:
                state.received.append(Received(self.path, dict(self.headers), body, time.monotonic(),
                                               0 if hang_seconds else status, self.command))
            time.sleep(hang_seconds)
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
            except OSError:
                pass  # the sender gave up waiting

        # A custom resource's answer to CloudFormation is a PUT to its ResponseURL.
        do_PUT = do_POST

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
