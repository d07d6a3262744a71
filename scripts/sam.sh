#!/usr/bin/env bash
# Run the AWS SAM CLI for this repo without Docker, in its own venv
# (SAM pins its own boto3/click/cfn-lint, so it cannot share .venv).
#
#   scripts/sam.sh validate        sam validate --lint   (offline, no AWS account)
#   scripts/sam.sh build [ARGS]    sam build             (no container; pip fetches arm64 wheels)
#   scripts/sam.sh deploy-guided   sam build + sam deploy --guided (needs AWS credentials)
#   scripts/sam.sh -- ARGS...      any other sam command, same environment
#
# First use creates .venv-sam/ (aws-sam-cli==$SAM_CLI_VERSION) from pyenv's
# Python 3.12 or 3.11. sam build needs the Lambda runtime interpreter
# (python3.13) on PATH; it is taken from PATH if it works, else from pyenv.
# Defaults for build/deploy (cached, parallel, stack name...) are in samconfig.toml.
# Overrides: SAM_CLI_VERSION, SAM_PYTHON (interpreter for .venv-sam),
#            SAM_RUNTIME_PYTHON_DIR (directory that holds python3.13).
set -euo pipefail

SAM_CLI_VERSION="${SAM_CLI_VERSION:-1.170.0}"
RUNTIME_PY="python3.13"   # must match Runtime / BuildMethod in template.yaml

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv-sam"
PYENV_DIR="${PYENV_ROOT:-$HOME/.pyenv}"

die() { echo "scripts/sam.sh: $*" >&2; exit 1; }
usage() { sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit "$1"; }

# Newest pyenv install of a minor version: pyenv_python 3.12 -> .../3.12.x/bin/python3.12
pyenv_python() {
  local d
  d="$(ls -d "$PYENV_DIR"/versions/"$1".* 2>/dev/null | sort -V | tail -n 1 || true)"
  if [[ -n "$d" && -x "$d/bin/python$1" ]]; then echo "$d/bin/python$1"; fi
}

# True if $1 runs and is Python $2 (a pyenv shim for an unselected version fails here).
is_python() {
  "$1" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$2'.split('.'))))" >/dev/null 2>&1
}

find_sam_python() {
  local v c
  if [[ -n "${SAM_PYTHON:-}" ]]; then echo "$SAM_PYTHON"; return; fi
  for v in 3.12 3.11; do
    for c in "$(pyenv_python "$v")" "$(command -v "python$v" || true)"; do
      if [[ -n "$c" ]] && is_python "$c" "$v"; then echo "$c"; return; fi
    done
  done
  die "need Python 3.12 or 3.11 to create .venv-sam (or set SAM_PYTHON=/path/to/python)"
}

ensure_venv() {
  local have="" py log
  if [[ -x "$VENV/bin/sam" ]]; then
    have="$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("aws-sam-cli"))' 2>/dev/null || true)"
  fi
  [[ "$have" == "$SAM_CLI_VERSION" ]] && return
  py="$(find_sam_python)"
  echo "scripts/sam.sh: creating .venv-sam with $py, aws-sam-cli==$SAM_CLI_VERSION (about a minute)" >&2
  rm -rf "$VENV"
  "$py" -m venv "$VENV"
  log="$VENV/pip-install.log"
  if ! { "$VENV/bin/python" -m pip install --upgrade pip \
         && "$VENV/bin/python" -m pip install "aws-sam-cli==$SAM_CLI_VERSION"; } >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    rm -rf "$VENV"   # never leave a half-built venv that looks usable
    die "pip install aws-sam-cli==$SAM_CLI_VERSION failed (log above)"
  fi
  "$VENV/bin/sam" --version >&2
}

ensure_runtime_python() {
  local c dir=""
  if [[ -n "${SAM_RUNTIME_PYTHON_DIR:-}" ]]; then
    dir="$SAM_RUNTIME_PYTHON_DIR"
  else
    c="$(command -v "$RUNTIME_PY" || true)"
    if [[ -n "$c" ]] && is_python "$c" "${RUNTIME_PY#python}"; then return; fi
    c="$(pyenv_python "${RUNTIME_PY#python}")"
    if [[ -n "$c" ]]; then dir="$(dirname "$c")"; fi
  fi
  [[ -n "$dir" ]] && is_python "$dir/$RUNTIME_PY" "${RUNTIME_PY#python}" \
    || die "$RUNTIME_PY not found (pyenv install 3.13, or set SAM_RUNTIME_PYTHON_DIR)"
  # Prepend, so a pyenv shim for an unselected version cannot shadow it.
  export PATH="$dir:$PATH"
}

# sam build "succeeds" even when a CodeUri folder is missing or empty; say so.
warn_missing_code() {
  local uri
  while read -r uri; do
    uri="${uri%/}"
    if [[ ! -f "$uri/app.py" ]]; then
      echo "scripts/sam.sh: WARNING: $uri/app.py is missing; that function's artifact is empty" >&2
    fi
  done < <(sed -n 's/^ *CodeUri: *\([^ #]*\).*/\1/p' template.yaml)
}

export SAM_CLI_TELEMETRY=0

cmd="${1:-}"
if [[ $# -gt 0 ]]; then shift; fi
case "$cmd" in
  validate)
    ensure_venv
    exec "$VENV/bin/sam" validate --lint "$@"
    ;;
  build)
    ensure_venv
    ensure_runtime_python
    "$VENV/bin/sam" build "$@"
    warn_missing_code
    ;;
  deploy-guided)
    ensure_venv
    ensure_runtime_python
    "$VENV/bin/sam" build
    warn_missing_code
    exec "$VENV/bin/sam" deploy --guided "$@"
    ;;
  --)
    ensure_venv
    ensure_runtime_python
    exec "$VENV/bin/sam" "$@"
    ;;
  -h|--help|help) usage 0 ;;
  *) usage 2 ;;
esac
