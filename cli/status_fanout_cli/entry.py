"""The `status-fanout` command: the staff CLI (Typer), and the local stack's
own commands (`local`, `replay`, `hash-token`) exactly as before.

Those three go straight to their argparse parser (status_fanout_local.cli),
without loading Typer: same options, same output, same exit codes, and
`status-fanout local` keeps working where only the local stack's extra is.
"""

from __future__ import annotations

import sys

LOCAL_COMMANDS = ("local", "replay", "hash-token")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if args and args[0] in LOCAL_COMMANDS:
        from status_fanout_local.cli import main as local_main

        return local_main(args)
    try:
        from status_fanout_cli.app import run
    except ImportError as error:  # pragma: no cover - an install without the cli extra
        print(f"the staff CLI needs its extra: pip install 'status-fanout[cli]' ({error})", file=sys.stderr)
        return 2
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
