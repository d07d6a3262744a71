"""cold_start: median import time of each Lambda handler in a fresh process,
and its ratio to a bare `import boto3` measured in the same run.

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
if path == "boto3":
    import boto3
else:
    spec = importlib.util.spec_from_file_location("handler", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
imported = time.perf_counter() - start
# What the first request then adds: the AWS clients created on first use.
import boto3
boto3.client("dynamodb")
print(imported, time.perf_counter() - start)
"""


def measure(target: str, runs: int) -> tuple[float, float]:
    """Median ms for the import alone, and for import plus a DynamoDB client."""
    imports, ready = [], []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", PROBE, target], env=ENV, capture_output=True, text=True, check=True)
        first, second = out.stdout.strip().splitlines()[-1].split()
        imports.append(float(first))
        ready.append(float(second))
    return statistics.median(imports) * 1000, statistics.median(ready) * 1000


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    # Interleave so machine noise hits the baseline and the handlers alike.
    baseline, _ = measure("boto3", runs)
    print(json.dumps({"bench": "cold_start", "module": "boto3", "median_ms": round(baseline, 1), "runs": runs}))
    for handler in HANDLERS:
        ms, ready = measure(str(handler), runs)
        again, _ = measure("boto3", max(3, runs // 3))
        base = statistics.median([baseline, again])
        print(json.dumps({
            "bench": "cold_start", "module": f"functions/{handler.parent.name}/app.py",
            "median_ms": round(ms, 1), "boto3_median_ms": round(base, 1), "ratio_to_boto3": round(ms / base, 2),
            "with_dynamodb_client_ms": round(ready, 1), "runs": runs,
        }))


if __name__ == "__main__":
    main()
