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


def test_the_completion_script_is_shown_for_a_shell() -> None:
    script = subprocess.run([CLI, "--show-completion", "bash"], capture_output=True, text=True, check=True).stdout
    assert "_STATUS_FANOUT_COMPLETE=complete_bash" in script and "complete " in script
