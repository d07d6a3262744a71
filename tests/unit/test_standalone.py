"""The repository stands alone: no tracked file reads or names a path above its root.

A user clones this repository and nothing else, so code, tests, docs, the
Makefile and CI may only use what is inside it (the real third-party data is
in data/, byte-identical copies)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Assembled, so this file does not name what it forbids.
TEAM_FOLDER = "../" + "shared"
# A path climbing above the repository root from a Python module here:
# `ROOT.parent`, `parents[3]` and deeper from tests/unit, or `"../.."` literals.
CLIMBS = [
    re.compile(r"\bROOT\.parent\b"),
    re.compile(r"""["'](?:\.\./){2,}"""),
]


def tracked_text_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    paths = [ROOT / name for name in names.decode().split("\0") if name]
    return [path for path in paths if path.is_file() and b"\0" not in path.read_bytes()[:4096]]


def test_no_tracked_file_names_the_team_folder() -> None:
    # GIVEN every tracked text file (code, tests, docs, Makefile, .ci/run, scripts)
    # WHEN searched for the team's reference folder
    offenders = [str(path.relative_to(ROOT)) for path in tracked_text_files()
                 if TEAM_FOLDER in path.read_text(errors="replace")]
    # THEN none names it
    assert offenders == []


def test_no_python_file_climbs_above_the_repository() -> None:
    offenders = []
    for path in tracked_text_files():
        if path.suffix != ".py" or path == Path(__file__).resolve():
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if any(pattern.search(line) for pattern in CLIMBS):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_the_real_data_is_inside_the_repository() -> None:
    corpus = sorted((ROOT / "data" / "githubstatus-incidents").glob("*.json"))
    assert len(corpus) == 1282
    for folder in ("statuspage-samples", "statuspage-maintenance", "schemas"):
        assert (ROOT / "data" / folder / "PROVENANCE.md").is_file(), folder


def test_every_citation_of_the_contract_names_one_of_its_sections() -> None:
    # GIVEN the contract's numbered headings ("## 5. The HTTP API", "### 5.5 Errors")
    contract = (ROOT / "docs" / "contract.md").read_text()
    sections = set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", contract, flags=re.M))
    assert {"1", "5.5", "7.2", "13"} <= sections
    # WHEN every tracked file's "docs/contract.md §N" is read
    citation = re.compile(r"contract\.md`? (?:§|section )(\d+(?:\.\d+)?)")
    cited = {(str(path.relative_to(ROOT)), number) for path in tracked_text_files()
             for number in citation.findall(path.read_text(errors="replace"))}
    # THEN each names a section that exists, and the README links the contract
    assert cited and {c for c in cited if c[1] not in sections} == set()
    assert "](docs/contract.md)" in (ROOT / "README.md").read_text()
