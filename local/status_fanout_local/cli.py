"""`status-fanout`: the local stack and the staff tools.

    status-fanout local                      the whole system on this machine (docs/contract.md §4)
    status-fanout replay FILE --api URL --token T [--live]
    status-fanout hash-token [TOKEN]         the SHA-256 to deploy as StaffTokenSha256
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _local(args: argparse.Namespace) -> int:
    from status_fanout.api.auth import hash_token, new_token

    from .stack import LocalStack

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    token = os.environ.get("STAFF_TOKEN") or new_token()
    port = int(os.environ.get("PORT", args.port))
    stack = LocalStack(Path(args.root), port=port, parameters={"StaffTokenSha256": hash_token(token)})
    stack.start()
    origin = "from STAFF_TOKEN" if os.environ.get("STAFF_TOKEN") else "generated; set STAFF_TOKEN to choose one"
    print(f"Staff token ({origin}):\n  {token}\n"
          f"Try:\n  curl -H 'Authorization: Bearer {token}' {stack.api_url}/v1/incidents\n"
          f"  status-fanout replay events/seed/mail-platform-outage.json --api {stack.api_url} --token {token}\n"
          f"OpenAPI: {stack.api_url}/openapi.json  Swagger UI: {stack.api_url}/docs\n"
          f"Public JSON: {stack.api_url}/api/v2/summary.json", flush=True)
    return stack.run_forever()


def _replay(args: argparse.Namespace) -> int:
    from .replay import ReplayError, http_sender, read_plans, replay

    token = args.token or os.environ.get("STAFF_TOKEN")
    if not token:
        print("give --token or set STAFF_TOKEN", file=sys.stderr)
        return 2
    plans = read_plans(Path(args.file), live=args.live)
    try:
        results = replay(http_sender(args.api, token), plans, workers=args.workers, progress=True,
                         key_prefix=args.key_prefix)
    except ReplayError as err:
        print(f"replay failed: {err}", file=sys.stderr)
        return 1
    for incident in results[-5:]:
        print(f"{incident['id']}  {incident['status']:<13} {incident['name']}")
    if len(results) > 5:
        print(f"... {len(results)} incidents in all")
    return 0


def _hash_token(args: argparse.Namespace) -> int:
    from status_fanout.api.auth import hash_token, new_token

    token = args.token or new_token()
    if not args.token:
        print(f"token:  {token}")
    print(f"sha256: {hash_token(token)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="status-fanout", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    local = commands.add_parser("local", help="run the whole system locally")
    local.add_argument("--port", type=int, default=3000, help="HTTP port (the PORT variable wins)")
    local.add_argument("--root", default=str(ROOT), help="folder holding template.yaml")
    local.add_argument("-v", "--verbose", action="store_true")
    local.set_defaults(run=_local)

    replay = commands.add_parser("replay", help="post an incident history through the API")
    replay.add_argument("file", help="seed JSON, Statuspage incident JSON, or a folder of them")
    replay.add_argument("--api", required=True, help="API base URL, e.g. http://127.0.0.1:3000")
    replay.add_argument("--token", help="staff token (default: STAFF_TOKEN)")
    replay.add_argument("--live", action="store_true",
                        help="post as live updates that notify, instead of backfilling the given times")
    replay.add_argument("--workers", type=int, default=4, help="incidents posted in parallel")
    replay.add_argument("--key-prefix", default="replay",
                        help="Idempotency-Key prefix; reuse it to resume a replay, change it to post again")
    replay.set_defaults(run=_replay)

    hashing = commands.add_parser("hash-token", help="print the SHA-256 of a staff token (or make one)")
    hashing.add_argument("token", nargs="?")
    hashing.set_defaults(run=_hash_token)

    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
