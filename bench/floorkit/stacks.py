"""Where the CPU went, from the py-spy stacks a floor bench wrote with `--py-spy DIR`.

For each phase file (`<label>-<process>.txt`, raw collapsed stacks of the
GIL holder, 50 samples/s): the emulator's samples by AWS operation (the
handler moto dispatched to; "HTTP and dispatch" is werkzeug, Flask and
moto's request parsing around it; moto 5 writes some operations' responses
after the handler returned, shown apart), and for both
processes the functions with the largest inclusive share, as a percentage
of that process's samples.

Usage: .venv/bin/python bench/floorkit/stacks.py DIR [--top 15] [--match sender]
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

BOILERPLATE = ("Thread.", "_bootstrap", "_worker", "<module>", "main ", "_main ", "ThreadingMixIn.", "BaseServer.",
               "BaseRequestHandler.", "WSGIRequestHandler.", "BaseHTTPRequestHandler.", "DomainDispatcher",
               "Flask.", "convert_to_flask_response", "run_phase ", "one_delay ", "work ", "_WorkItem.run ",
               "Executor.", "result_iterator", "_chain_from_iterable_of_lists", "BaseResponse.dispatch",
               "BaseResponse._dispatch", "amz_crc32", "serialize_dynamodb", "locked ")


def read(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append(([f.split(" (")[0] for f in stack.split(";") if not f.startswith("process ")], int(count)))
    return stacks


def by_operation(stacks: list[tuple[list[str], int]]) -> collections.Counter[str]:
    ops: collections.Counter[str] = collections.Counter()
    for frames, n in stacks:
        op = "HTTP and dispatch"
        for i, frame in enumerate(frames[:-1]):
            if frame == "BaseResponse.call_action":
                op = frames[i + 1].rpartition(".")[2]
                if op == "serialized":  # the operation returned; its response is being written
                    op = "a DynamoDB response, serialised" if "DynamoHandler.call_action" in frames else \
                        "a response, serialised"
                break
        ops[op] += n
    return ops


def inclusive(stacks: list[tuple[list[str], int]]) -> collections.Counter[str]:
    functions: collections.Counter[str] = collections.Counter()
    for frames, n in stacks:
        for frame in set(frames):
            if not frame.startswith(BOILERPLATE):
                functions[frame] += n
    return functions


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--match", default="", help="only files whose name contains this")
    args = parser.parse_args()
    files = sorted(p for p in Path(args.directory).glob("*.txt") if args.match in p.name)
    merged: dict[str, list[tuple[list[str], int]]] = collections.defaultdict(list)
    for path in files:
        side, process = path.stem.partition("-")[0], path.stem.rpartition("-")[2]
        merged[f"{side} {process}"] += read(path)
    for key, stacks in sorted(merged.items()):
        total = sum(n for _, n in stacks) or 1
        print(f"== {key}: {total} samples")
        if key.endswith("moto"):
            for op, n in by_operation(stacks).most_common():
                print(f"  {100 * n / total:5.1f} %  {op}")
            print("  --")
        for frame, n in inclusive(stacks).most_common(args.top):
            print(f"  {100 * n / total:5.1f} %  {frame}")


if __name__ == "__main__":
    main()
