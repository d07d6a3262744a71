"""The README's commands as a user runs them: `status-fanout local` (what
`make run` runs) in its own process, the replay CLI against it, and a clean
stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, SEED, http

pytestmark = pytest.mark.e2e
CLI = str(Path(sys.executable).parent / "status-fanout")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_local_stack_serves_a_replayed_seed_and_stops_cleanly(tmp_path: Path) -> None:
    # GIVEN `status-fanout local` started with a chosen port and token
    port, token = free_port(), "sf_cli-test-token"
    env = {**os.environ, "PORT": str(port), "STAFF_TOKEN": token}
    server = subprocess.Popen([CLI, "local"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    api = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if http(f"{api}/openapi.json").status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("the local stack did not come up")
        # WHEN the seed is replayed with the CLI, as the README shows
        replay = subprocess.run([CLI, "replay", str(SEED), "--api", api, "--token", token],
                                capture_output=True, text=True, timeout=120, check=False)
        assert replay.returncode == 0, replay.stderr
        assert "Mail platform outage" in replay.stdout
        # THEN the public JSON serves it once the publisher has run
        for _ in range(100):
            reply = http(f"{api}/api/v2/incidents.json")
            if reply.status == 200 and reply.json["incidents"]:
                break
            time.sleep(0.1)
        assert reply.json["incidents"][0]["name"] == "Mail platform outage"
        # AND a wrong token is refused
        assert http(f"{api}/v1/incidents", headers={"Authorization": "Bearer nope"}).status == 401
    finally:
        # WHEN it gets SIGTERM, THEN it stops cleanly with exit code 0
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    assert token in output  # the token it serves with is printed at start


def test_hash_token_prints_the_digest_to_deploy() -> None:
    out = subprocess.run([CLI, "hash-token", "abc"], capture_output=True, text=True, check=True).stdout
    assert "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" in out
