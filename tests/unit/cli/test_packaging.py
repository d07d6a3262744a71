"""The staff CLI is installed with the package but never deployed: nothing a
Lambda function loads (the layer, the functions) names it or its libraries."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CLI_LIBRARIES = re.compile(r"^\s*(?:from|import)\s+(status_fanout_cli|typer|rich|click)\b", re.MULTILINE)


def test_no_lambda_artifact_imports_the_cli_or_lists_its_libraries() -> None:
    # GIVEN what the template deploys: the layer (layers/core/) and the functions (functions/)
    deployed = [*ROOT.glob("layers/core/**/*.py"), *ROOT.glob("functions/**/*.py")]
    # THEN none of it imports the CLI, Typer, Rich or Click
    assert [str(p.relative_to(ROOT)) for p in deployed if CLI_LIBRARIES.search(p.read_text())] == []
    # AND the layer's requirements do not name them
    requirements = (ROOT / "layers/core/requirements.txt").read_text().lower()
    assert not re.search(r"^(typer|rich|click)\b", requirements, re.MULTILINE)


def test_the_cli_comes_with_the_cli_and_local_extras_and_owns_the_command() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(dep.startswith("typer") for dep in project["optional-dependencies"]["cli"])
    assert "status-fanout[cli]" in project["optional-dependencies"]["local"]
    assert not any(dep.startswith(("typer", "rich")) for dep in project["dependencies"])
    assert project["scripts"]["status-fanout"] == "status_fanout_cli.entry:main"
