"""`status-fanout`: the local stack and the staff tools.

    status-fanout local [--demo]             the whole system on this machine (docs/contract.md §4);
                                             --demo loads the seed's Bottlenose page
    status-fanout replay FILE --api URL --token T [--live]
    status-fanout hash-token [TOKEN]         the SHA-256 to deploy as StaffTokenSha256
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _local(args: argparse.Namespace) -> int:
    from status_fanout.api.auth import hash_token, new_token

    from .stack import LocalStack

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # Powertools warns on every invocation that adds no metric (a GET, a 401):
    # noise in a terminal, and the tests ignore it too (pyproject.toml).
    warnings.filterwarnings("ignore", "No application metrics to publish")
    token = os.environ.get("STAFF_TOKEN") or new_token()
    port = int(os.environ.get("PORT", args.port))
    stack = LocalStack(Path(args.root), port=port, parameters={"StaffTokenSha256": hash_token(token)})
    stack.start()
    demo: list[dict[str, Any]] = []
    if args.demo:
        from . import demo as demo_page

        try:
            # The handlers' logs of loading it would come before the banner.
            with _held_stdout():
                demo = demo_page.load(stack, token, Path(args.root) / demo_page.SEED)
        except BaseException:
            stack.stop()
            raise
    origin = "from STAFF_TOKEN" if os.environ.get("STAFF_TOKEN") else "generated; set STAFF_TOKEN to choose one"
    return stack.run_forever(banner(stack.api_url, token, origin, demo, stack.moto_url, stack.outbox_dir))


@contextlib.contextmanager
def _held_stdout() -> Iterator[None]:
    """Hold back what anything in this process (every handler thread) writes to
    stdout meanwhile; dropped on success, written to stderr on failure."""
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 1)
        try:
            yield
        except BaseException:
            sys.stdout.flush()
            os.dup2(saved, 1)
            held.seek(0)
            sys.stderr.buffer.write(held.read())
            sys.stderr.flush()
            raise
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


def banner(url: str, token: str, origin: str, demo: list[dict[str, Any]], moto_url: str, outbox: Path) -> str:
    """What `make run` prints first: the status page, then the APIs, the docs and the token."""
    lines = ["status-fanout local stack", f"  Status page:  {url}/"]
    lines += [f"  Demo:         {url}/incidents/{incident['id']}  {incident['name']} (the seed, backfilled)"
              for incident in demo]
    lines += [
        f"  Subscribe:    {url}/subscribe",
        f"  Public API:   {url}/api/v2/summary.json  (Statuspage v2; feeds {url}/history.rss, .atom)",
        f"  Staff API:    {url}/v1/incidents",
        f"  Docs:         {url}/docs  (Swagger UI; OpenAPI {url}/openapi.json)",
        f"  Staff token ({origin}):",
        f"    {token}",
        f"  AWS emulator (moto): {moto_url}   Email outbox (.eml): {outbox}",
        "Try:",
        f"  curl -H 'Authorization: Bearer {token}' {url}/v1/incidents",
    ]
    if not demo:
        lines.append(f"  status-fanout replay events/seed/mail-platform-outage.json --api {url} --token {token}")
    lines.append("Ctrl-C to stop.")
    return "\n".join(lines)


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
    local.add_argument("--demo", action="store_true",
                       help="load the seed's Bottlenose page (events/seed/): its components and the "
                            "'Mail platform outage' incident, backfilled")
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
