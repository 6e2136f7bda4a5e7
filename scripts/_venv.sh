# Sourced by scripts/serve and scripts/test: make .venv and install the project
# (again only when pyproject.toml changed). Needs only python3 >= 3.11.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
    echo "creating virtual environment in $VENV" >&2
    "$PY" -m venv "$VENV"
fi
EXTRA="${1:-}"
[ "$EXTRA" = base ] && EXTRA=""  # the server needs no extra; the tests need [test]
STAMP="$VENV/.installed-$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)-${1:-base}"
if [ ! -f "$STAMP" ]; then
    echo "installing autotrader${EXTRA:+[$EXTRA]} into $VENV" >&2
    "$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
    "$VENV/bin/python" -m pip install --quiet -e "$ROOT${EXTRA:+[$EXTRA]}" >&2
    rm -f "$VENV"/.installed-*
    touch "$STAMP"
fi
