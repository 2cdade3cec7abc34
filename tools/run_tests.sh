#!/usr/bin/env bash
# Lint (tools/lint.sh), then run the test suite, installing the environment
# first if needed.
#
#   bash tools/run_tests.sh                  # .venv inside the checkout
#   bash tools/run_tests.sh --active         # the already-active environment
#   bash tools/run_tests.sh -- -k codec -x   # extra arguments go to pytest
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
INSTALL_ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --active) INSTALL_ARGS+=(--active); shift ;;
    --) shift; break ;;
    *) break ;;
  esac
done
bash "$ROOT/tools/install.sh" "${INSTALL_ARGS[@]}"
if [ "${#INSTALL_ARGS[@]}" -gt 0 ]; then PY="$(command -v python)"; else PY="${MMPOSE_EXT_VENV:-$ROOT/.venv}/bin/python"; fi
cd "$ROOT"
PY="$PY" bash "$ROOT/tools/lint.sh"  # style violations fail CI too
exec "$PY" -m pytest tests "$@"
