"""The local stack's emulator alone in its own process: moto server with the
local stack's DynamoDB fixes (one operation at a time, partition queries,
rollback snapshots of the written partitions only; status_fanout_local.emulator),
no resources, no pollers.

Prints its URL on the first line of stdout, then serves until stdin closes
(the bench that started it exited or closed the pipe).
Usage: .venv/bin/python bench/floorkit/moto_process.py
"""

from __future__ import annotations

import sys

from status_fanout_local.emulator import Emulator


def main() -> None:
    emulator = Emulator()
    emulator.start()
    print(emulator.url, flush=True)
    try:
        sys.stdin.read()
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
