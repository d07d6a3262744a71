"""The webhook receiver of the floor benches, in its own process: a threaded
loopback HTTP/1.1 server that answers every POST with 204 after `--delay-ms`,
and counts each `webhook-id` it was sent.

`GET /seen` answers the counts since the last `GET /seen` as JSON
({webhook-id: times}) and starts counting afresh. Prints its URL on the first
line of stdout, then serves until stdin closes.
Usage: .venv/bin/python bench/floorkit/receiver_process.py --delay-ms 50
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--delay-ms", type=int, default=0)
    args = parser.parse_args()
    delay = args.delay_ms / 1000
    seen: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                seen[self.headers.get("webhook-id", "")] += 1
            if delay:
                time.sleep(delay)
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            with lock:
                body = json.dumps(dict(seen)).encode()
                seen.clear()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.request_queue_size = 128
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
