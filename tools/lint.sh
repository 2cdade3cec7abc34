#!/usr/bin/env bash
# Check import order (isort), formatting (yapf) and lint (ruff) with the
# styles in pyproject.toml (MMPose's isort/yapf styles). Exits non-zero on any
# violation; tools/run_tests.sh runs it before the tests.
#
#   bash tools/lint.sh          # check
#   bash tools/lint.sh --fix    # rewrite files in place, then check
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${LINT_BIN:-$(dirname "${PY:-${MMPOSE_EXT_VENV:-$ROOT/.venv}/bin/python}")}"
cd "$ROOT"
PATHS=(mmpose_ext mmpose_ext_runtime tools tests configs setup.py)
if [ "${1:-}" = "--fix" ]; then
  "$BIN/isort" -q "${PATHS[@]}"
  "$BIN/yapf" -r -i "${PATHS[@]}"
  "$BIN/ruff" check --fix -q "${PATHS[@]}" || true
fi
status=0
"$BIN/isort" --check-only -q "${PATHS[@]}" || { echo "lint: imports unsorted (fix: bash tools/lint.sh --fix)" >&2; status=1; }
if ! "$BIN/yapf" -r -d "${PATHS[@]}" >/tmp/yapf.$$ 2>&1; then
  head -n 40 /tmp/yapf.$$ >&2
  echo "lint: files not yapf-formatted (fix: bash tools/lint.sh --fix)" >&2
  status=1
fi
rm -f /tmp/yapf.$$
"$BIN/ruff" check -q "${PATHS[@]}" || status=1
[ "$status" = 0 ] && echo "lint: isort, yapf and ruff clean"
exit "$status"
