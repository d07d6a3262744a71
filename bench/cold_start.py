"""cold_start: median import time of each Lambda handler in a fresh process,
and its ratio to a bare `import boto3` measured in the same run.

Each handler's runs alternate with runs of the bare `import boto3`, so a
busy machine slows both alike; the ratio is the median handler time over the
median boto3 time of those interleaved runs, in wall-clock time and in CPU
time (steadier when other work shares the cores).

Prints one JSON line per figure. Usage: python bench/cold_start.py [runs]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HANDLERS = sorted(p for p in (ROOT / "functions").glob("*/app.py"))
ENV = {
    **os.environ,
    "TABLE_NAME": "bench", "PUBLIC_BUCKET": "bench", "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
    "POWERTOOLS_SERVICE_NAME": "bench", "POWERTOOLS_METRICS_NAMESPACE": "bench",
}
PROBE = """
import importlib.util, sys, time
path = sys.argv[1]
start = time.perf_counter()
cpu = time.process_time()
if path == "boto3":
    import boto3
else:
    spec = importlib.util.spec_from_file_location("handler", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
imported, imported_cpu = time.perf_counter() - start, time.process_time() - cpu
# What the first request then adds: the AWS clients created on first use.
import boto3
boto3.client("dynamodb")
print(imported, imported_cpu, time.perf_counter() - start)
"""


def probe(target: str) -> tuple[float, float, float]:
    """ms in one fresh interpreter: import (wall, CPU), and import plus a DynamoDB client (wall)."""
    out = subprocess.run([sys.executable, "-c", PROBE, target], env=ENV, capture_output=True, text=True, check=True)
    wall, cpu, ready = (float(v) * 1000 for v in out.stdout.strip().splitlines()[-1].split())
    return wall, cpu, ready


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    for handler in HANDLERS:
        baseline, measured = [], []
        for _ in range(runs):
            baseline.append(probe("boto3"))
            measured.append(probe(str(handler)))
        base_wall, base_cpu = (statistics.median(r[i] for r in baseline) for i in (0, 1))
        wall, cpu, ready = (statistics.median(r[i] for r in measured) for i in (0, 1, 2))
        print(json.dumps({
            "bench": "cold_start", "module": f"functions/{handler.parent.name}/app.py",
            "median_ms": round(wall, 1), "boto3_median_ms": round(base_wall, 1),
            "ratio_to_boto3": round(wall / base_wall, 2), "cpu_ratio_to_boto3": round(cpu / base_cpu, 2),
            "with_dynamodb_client_ms": round(ready, 1), "runs": runs, "load1": round(os.getloadavg()[0], 2),
        }))


if __name__ == "__main__":
    main()
