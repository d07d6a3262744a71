"""`status-fanout local --demo` (what `make demo` runs) as a user starts it: in
its own process, the seed's Bottlenose page served by the time it prints
where to look, and `make run`'s first output leading with the status page."""

from __future__ import annotations

import html
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, SEED, http
from tests.e2e.test_cli import free_port

pytestmark = pytest.mark.e2e
CLI = str(Path(sys.executable).parent / "status-fanout")
TOKEN = "sf_demo-test-token"
UPDATE = re.compile(r'<li>\s*<p class="body"><strong class="label">(?P<label>[^<]+)</strong> - (?P<body>.*?)</p>',
                    re.S)


@pytest.fixture(scope="module")
def demo() -> Iterator[dict[str, Any]]:
    """The demo stack, once it has printed its banner: {"url", "banner" (lines)}."""
    port = free_port()
    env = {**os.environ, "PORT": str(port), "STAFF_TOKEN": TOKEN}
    server = subprocess.Popen([CLI, "local", "--demo"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in server.stdout or []:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    printed: list[str] = []
    try:
        deadline = time.monotonic() + 240
        while not printed or printed[-1] != "Ctrl-C to stop.":
            try:
                printed.append(lines.get(timeout=max(0.1, deadline - time.monotonic())).rstrip("\n"))
            except queue.Empty:
                pytest.fail(f"the demo did not come up; it printed {printed}")
        yield {"url": f"http://127.0.0.1:{port}", "banner": printed}
    finally:
        # WHEN it gets SIGTERM, THEN it stops cleanly with exit code 0
        server.send_signal(signal.SIGTERM)
        _, errors = server.communicate(timeout=60)
        assert server.returncode == 0, errors[-2000:]


def test_the_first_output_leads_with_the_status_page_then_the_api_docs_and_token(demo: dict[str, Any]) -> None:
    url, banner = demo["url"], demo["banner"]
    # nothing comes before it: not even the logs of loading the seed
    assert banner[0] == "status-fanout local stack"
    assert banner[1] == f"  Status page:  {url}/"
    order = [next(i for i, line in enumerate(banner) if marker in line)
             for marker in ("Status page:", "Public API:", "Staff API:", "Docs:", TOKEN)]
    assert order == sorted(order)
    assert f"{url}/docs" in banner[order[3]] and f"{url}/openapi.json" in banner[order[3]]


def test_the_demo_serves_the_seed_incident_with_its_six_updates_and_the_postmortem(demo: dict[str, Any]) -> None:
    url = demo["url"]
    seed = json.loads(SEED.read_text())["incident"]
    # GIVEN the incident the banner points at
    [demo_line] = [line for line in demo["banner"] if "Demo:" in line]
    incident_id = re.search(r"/incidents/(\w+)", demo_line).group(1)  # type: ignore[union-attr]
    listed = http(f"{url}/api/v2/incidents.json").json["incidents"]
    assert [(i["id"], i["name"]) for i in listed] == [(incident_id, "Mail platform outage")]
    # WHEN its page is read
    page = http(f"{url}/incidents/{incident_id}")
    assert page.status == 200
    text = page.raw.decode()
    # THEN it shows the six updates, newest first, with their labels and verbatim texts
    updates = [(m["label"], html.unescape(m["body"])) for m in UPDATE.finditer(text)]
    assert updates == [(u["label"], u["body"]) for u in reversed(seed["updates"])]
    assert len(updates) == 6
    assert "Posted <time" in text and "Aug 30, 2018 - 18:18 EDT" in text
    # AND the postmortem, whole, above them
    section = re.search(r'<section class="postmortem".*?</section>', text, re.S)
    assert section is not None and section.start() < text.index('class="updates"')
    shown = html.unescape(re.sub(r"<br />", "\n", section.group(0)))
    assert seed["postmortem"]["body"] in shown and "Aug 30, 2018 - 22:44 EDT" in shown
    # AND the JSON agrees
    incident = http(f"{url}/api/v2/incidents/{incident_id}.json").json["incident"]
    assert [u["body"] for u in incident["incident_updates"]] == [u["body"] for u in reversed(seed["updates"])]
    assert incident["postmortem_body"] == seed["postmortem"]["body"] and incident["status"] == "resolved"


def test_the_demo_page_shows_the_email_group_and_the_incident_in_its_history(demo: dict[str, Any]) -> None:
    url = demo["url"]
    page = http(f"{url}/").raw.decode()
    # a backfill is history, not the present: everything is operational again
    assert "All Systems Operational" in page
    for name in ("Email", "SMTP Email", "Transactional Emails", "Email Marketing", "POP3/IMAP Email"):
        assert f'<span class="name">{html.escape(name)}</span>' in page, name
    assert "Mail platform outage" in page
    summary = http(f"{url}/api/v2/summary.json").json
    assert summary["page"]["name"] == "Bottlenose" and summary["incidents"] == []
