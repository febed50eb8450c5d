#!/usr/bin/env bash
# The gates: ruff check, ruff format --check and mypy --strict over coordkit and cli, at the
# versions pinned in setup.cfg's dev extra (and .pre-commit-config.yaml), with every extra
# installed so that mypy sees the optional libraries' types too.
#
# Builds its own virtualenv (.venv-lint) once, and again when setup.cfg changes. Exits non-zero
# on the first gate that fails, saying which. `scripts/lint.sh --fix` applies ruff's safe fixes
# and formatting first.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv-lint
stamp="$VENV/.setup.cfg.sha256"
if [[ ! -x "$VENV/bin/python" ]] || ! sha256sum --status -c "$stamp" 2>/dev/null; then
    echo "== lint: virtualenv $VENV with coordkit[dev]" >&2
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
    "$VENV/bin/python" -m pip install -q -e '.[dev]'
    sha256sum setup.cfg > "$stamp"
fi

if [[ "${1:-}" == "--fix" ]]; then
    "$VENV/bin/ruff" check --fix .
    "$VENV/bin/ruff" format .
fi
echo "== lint: ruff check ($("$VENV/bin/ruff" --version))" >&2
"$VENV/bin/ruff" check .
echo "== lint: ruff format --check" >&2
"$VENV/bin/ruff" format --check .
echo "== lint: mypy --strict coordkit cli ($("$VENV/bin/mypy" --version))" >&2
"$VENV/bin/mypy" --strict coordkit cli
