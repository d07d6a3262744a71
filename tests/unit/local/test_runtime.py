"""The local runtime's containers: how many invocations of one function may
run at once when its containers are threads of one process."""

from __future__ import annotations

import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

from status_fanout_local.runtime import Runtime
from status_fanout_local.template import ApiEvent, FunctionSpec, SqsEvent

HANDLER = '''
import sys, time
probe = sys.modules["runtime_probe"]

def lambda_handler(event, context):
    with probe.lock:
        probe.running += 1
        probe.most = max(probe.most, probe.running)
    time.sleep(0.05)
    with probe.lock:
        probe.running -= 1
    return {"statusCode": 200, "body": ""}
'''


def most_at_once(tmp_path: Path, spec_events: dict[str, object], calls: int = 8) -> int:
    (tmp_path / "app.py").write_text(HANDLER)
    probe = SimpleNamespace(lock=threading.Lock(), running=0, most=0)
    sys.modules["runtime_probe"] = probe  # type: ignore[assignment]
    try:
        spec = FunctionSpec(logical_id="Probe", code_dir=tmp_path, handler="app.lambda_handler", environment={},
                            **spec_events)  # type: ignore[arg-type]
        runtime = Runtime([spec], max_containers=4)
        with ThreadPoolExecutor(calls) as pool:
            list(pool.map(lambda _: runtime.invoke("Probe", {}), range(calls)))
    finally:
        del sys.modules["runtime_probe"]
    return int(probe.most)


def test_an_api_function_runs_one_request_at_a_time(tmp_path: Path) -> None:
    # GIVEN a function behind the API (Powertools' resolver keeps the current event per process)
    # WHEN eight requests arrive at once
    most = most_at_once(tmp_path, {"api_events": (ApiEvent("Any", "/x", "ANY"),)})
    # THEN they ran one after another: no request can read another's event
    assert most == 1


def test_a_queue_function_runs_its_containers_side_by_side(tmp_path: Path) -> None:
    # GIVEN a queue consumer
    most = most_at_once(tmp_path, {"sqs_events": (SqsEvent("Jobs", "arn:aws:sqs:us-east-1:123456789012:jobs"),)})
    # THEN up to its four containers run at once
    assert most == 4
