"""The webhook receiver of the floor benches, in its own process: a threaded
loopback HTTP/1.1 server that answers every POST after `--delay-ms` as the
destination would, and counts each delivery it was sent.

A path whose first segment names a chat format (`/slack/…`, `/teams/…`,
`/discord/…`, `/google_chat/…`) stands for that app's incoming webhook and
is answered as the app answers a message it took: 200 (Slack's `ok`,
Teams' empty body, Google Chat's JSON message), 204 for Discord; any other
path is a partner endpoint, answered 204.

A delivery is counted by its `webhook-id`; a chat message has none, so it is
counted as `<path> <first "bench-event-N" in its body>` (the bench puts that
token in each event's text). Every body must parse as a JSON object, a chat
message must carry no `webhook-signature` (nor `webhook-id`), and a partner
delivery must carry one: each breach is counted as a problem.

`GET /seen` answers `{"seen": {key: times}, "problems": {what: times}}` since
the last `GET /seen` and starts counting afresh. Prints its URL on the first
line of stdout, then serves until stdin closes.
Usage: .venv/bin/python bench/floorkit/receiver_process.py --delay-ms 50
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# What each app's incoming webhook answers a message it accepted: status, content type, body.
CHAT_REPLIES: dict[str, tuple[int, str | None, bytes]] = {
    "slack": (200, "text/html", b"ok"),
    "teams": (200, None, b""),
    "google_chat": (200, "application/json; charset=UTF-8",
                    b'{"name":"spaces/BENCH/messages/bench.1","sender":{"type":"BOT"}}'),
    "discord": (204, None, b""),
}
TOKEN = re.compile(rb"bench-event-\d+")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--delay-ms", type=int, default=0)
    args = parser.parse_args()
    delay = args.delay_ms / 1000
    seen: collections.Counter[str] = collections.Counter()
    problems: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # A reply with a body is two writes (headers, then body): with Nagle's
        # algorithm the second waits for the client's delayed ACK (~40 ms).
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            chat = self.path.split("/")[1] if self.path.count("/") >= 2 else ""
            found: list[str] = []
            try:
                if not isinstance(json.loads(body), dict):
                    found.append("body not a JSON object")
            except ValueError:
                found.append("body not JSON")
            if chat in CHAT_REPLIES:
                token = TOKEN.search(body)
                key = f"{self.path} {token.group().decode() if token else '?'}"
                if "webhook-signature" in self.headers or "webhook-id" in self.headers:
                    found.append(f"{chat} message with webhook headers")
                status, content_type, reply = CHAT_REPLIES[chat]
            else:
                key = self.headers.get("webhook-id", "")
                if "webhook-signature" not in self.headers:
                    found.append("partner delivery without webhook-signature")
                status, content_type, reply = 204, None, b""
            with lock:
                seen[key] += 1
                problems.update(found)
            if delay:
                time.sleep(delay)
            self.send_response(status)
            if content_type:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            if reply:
                self.wfile.write(reply)

        def do_GET(self) -> None:
            with lock:
                body = json.dumps({"seen": dict(seen), "problems": dict(problems)}).encode()
                seen.clear()
                problems.clear()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        # The listen backlog, read when the server binds: a batch's 32 (or
        # more) connections are dialled at once, and the default 5 reset some.
        request_queue_size = 128

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
