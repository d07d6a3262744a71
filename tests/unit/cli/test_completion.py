"""Shell completion of the installed `status-fanout` command, as a shell asks
for it (the protocol Typer's `--install-completion` script speaks)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CLI = str(Path(sys.executable).parent / "status-fanout")


def complete(words: str) -> list[str]:
    env = {**os.environ, "_STATUS_FANOUT_COMPLETE": "complete_bash", "COMP_WORDS": words,
           "COMP_CWORD": str(len(words.split(" ")) - 1)}
    result = subprocess.run([CLI], env=env, capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL)
    return result.stdout.split()


def test_commands_subcommands_and_choices_complete() -> None:
    # WHEN a shell asks what may follow
    # THEN the groups, their commands and an option's choices come back, the local stack's commands too
    assert "incident" in complete("status-fanout inc")
    assert {"local", "replay", "hash-token", "keys", "audit"} <= set(complete("status-fanout "))
    assert {"open", "update", "resolve", "list", "show"} <= set(complete("status-fanout incident "))
    assert complete("status-fanout incident open --status ") == ["investigating", "identified", "monitoring",
                                                                "resolved"]
    assert complete("status-fanout keys create alice --role ") == ["admin", "responder", "viewer"]


def test_the_completion_script_is_shown_for_the_shell_that_asks() -> None:
    # WHEN bash runs `--show-completion` (Typer names the shell it runs under, not an argument:
    # under make's /bin/sh it would answer "Shell sh not supported.")
    # (`; exit $?` keeps bash the parent: alone, the command would replace it)
    shown = subprocess.run(["bash", "-c", f"'{CLI}' --show-completion; exit $?"], capture_output=True, text=True,
                           check=False, stdin=subprocess.DEVNULL)
    # THEN the script is bash's
    assert shown.returncode == 0, (shown.returncode, shown.stdout, shown.stderr)
    assert "_STATUS_FANOUT_COMPLETE=complete_bash" in shown.stdout and "complete " in shown.stdout
