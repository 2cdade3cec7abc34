#!/usr/bin/env bash
# Install mmpose_ext and its pinned OpenMMLab stack.
#
#   bash tools/install.sh              # create/update .venv inside the checkout
#   bash tools/install.sh --active     # install into the already-active environment
#   bash tools/install.sh --mmcv-full  # compiled mmcv (built from source) instead of mmcv-lite
#   bash tools/install.sh --mmcv-lite  # mmcv-lite even where CUDA is present
#   MMPOSE_EXT_VENV=/path bash tools/install.sh   # venv somewhere else
#
# mmcv: by default the pure-Python mmcv-lite (seconds; the plugin supplies the
# ops its models and detectors need, mmpose_ext/compat/mmcv_ops.py), or the
# compiled mmcv when CUDA is present or --mmcv-full is given (a source build,
# 10-16 min on 2 cores the first time). An mmcv with compiled ops that is
# already installed is kept. Idempotent: every step checks whether it is
# already satisfied, and a stamp file (hash of this script, the constraints,
# setup.py and the mmcv choice) makes a repeated run a no-op. See README.md,
# "Environment pitfalls", for why each pin exists.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONSTRAINTS="$ROOT/requirements/constraints.txt"
USE_ACTIVE=0
MMCV_MODE=auto
for arg in "$@"; do
  case "$arg" in
    --active) USE_ACTIVE=1 ;;
    --mmcv-full) MMCV_MODE=full ;;
    --mmcv-lite) MMCV_MODE=lite ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument '$arg' (use --active, --mmcv-full, --mmcv-lite or --help)" >&2; exit 2 ;;
  esac
done

log() { printf '[install] %s\n' "$*"; }

# Python 3.10-3.13 (torch 2.13's range); checked before any long step.
SUPPORTED='import sys; v = sys.version_info[:2]; assert (3, 10) <= v <= (3, 13), "%d.%d" % v'
check_python() {
  "$1" -c "$SUPPORTED" >/dev/null 2>&1 || { echo "install.sh: $1 is Python $("$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo '?'); mmpose_ext supports 3.10-3.13: choose one with MMPOSE_EXT_PYTHON=/path/to/python3.11 (or activate such an environment with --active)" >&2; exit 1; }
}
if [ "$USE_ACTIVE" = 1 ]; then
  PY="$(command -v python)"
  check_python "$PY"
  log "installing into the active environment: $PY"
else
  VENV="${MMPOSE_EXT_VENV:-$ROOT/.venv}"
  if [ ! -x "$VENV/bin/python" ]; then
    BASE_PY="${MMPOSE_EXT_PYTHON:-$(command -v python3.11 || command -v python3)}"
    check_python "$BASE_PY"
    log "creating virtual environment $VENV with $BASE_PY"
    "$BASE_PY" -m venv "$VENV"
  fi
  PY="$VENV/bin/python"
  check_python "$PY"
fi

STAMP_DIR="$("$PY" -c 'import sys; print(sys.prefix)')"
STAMP="$STAMP_DIR/.mmpose_ext_install_stamp"
HASH="$( (cat "$0" "$CONSTRAINTS" "$ROOT/setup.py"; echo "$MMCV_MODE ${MMPOSE_EXT_NUMPY:-}") | sha256sum | cut -c1-16)"
# mmpose_ext first: on mmcv-lite it supplies mmcv's ops before mmcv.ops loads
CHECK='import mmpose_ext, torchvision, mmcv.ops, mmdet.models, mmpose.models
from mmpose.utils import register_all_modules; register_all_modules()'

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$HASH" ] && "$PY" -c "$CHECK" >/dev/null 2>&1; then
  log "already installed (stamp $HASH); nothing to do"
  exit 0
fi

have() { "$PY" -c "$1" >/dev/null 2>&1; }
# numpy: keep the major version the environment has; a new one gets numpy 1
# on Python <= 3.11 (every wheel of the stack exists for it) and numpy 2 on
# 3.12+ (MMPOSE_EXT_NUMPY=1|2 chooses). numpy 2 needs OpenCV >= 4.12 and
# xtcocotools built against it (below); numpy 1 needs OpenCV < 4.12.
NUMPY_MAJOR="${MMPOSE_EXT_NUMPY:-$("$PY" -c 'import numpy; print(numpy.__version__.split(".")[0])' 2>/dev/null || true)}"
if [ -z "$NUMPY_MAJOR" ]; then
  if have 'import sys; assert sys.version_info[:2] <= (3, 11)'; then NUMPY_MAJOR=1; else NUMPY_MAJOR=2; fi
fi
case "$NUMPY_MAJOR" in
  1) NUMPY_PINS=$'numpy<2\nopencv-python<4.12' ;;
  2) NUMPY_PINS=$'numpy>=2\nopencv-python>=4.12' ;;
  *) echo "install.sh: MMPOSE_EXT_NUMPY must be 1 or 2, got '$NUMPY_MAJOR'" >&2; exit 2 ;;
esac
ALL_CONSTRAINTS="$(mktemp)"
trap 'rm -f "$ALL_CONSTRAINTS"' EXIT
{ cat "$CONSTRAINTS"; echo "$NUMPY_PINS"; } > "$ALL_CONSTRAINTS"
PIP=("$PY" -m pip install --disable-pip-version-check -c "$ALL_CONSTRAINTS")
log "Python $("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])'), numpy $NUMPY_MAJOR.x"

# 1. Build tooling. mmcv 2.1.0's setup.py needs `wheel` (bdist_wheel) and
#    pkg_resources (setuptools < 81; torch 2.13 wants >= 77) at build time;
#    ninja parallelises the C++ ops build.
"${PIP[@]}" -q --upgrade "pip>=23,<26" wheel ninja "setuptools>=77,<81"

# 2. torch: `===` picks the registry's 2.13.0 build; the local 2.13.0+cpu wheel
#    breaks torchvision's C ops ("operator torchvision::nms does not exist").
# The registry build reports 2.13.0+cu130 and runs on CPU; reject +cpu.
if ! have 'import torch, torchvision; v = torch.__version__; assert v.split("+")[0] == "2.13.0" and not v.endswith("+cpu"), v; import torchvision.ops; torchvision.ops.nms'; then
  log "installing torch 2.13.0 + torchvision 0.28.0 (registry build)"
  "${PIP[@]}" "torch===2.13.0" "torchvision==0.28.0" numpy
fi

# 3. mmengine, then mmcv 2.1.0: mmcv-lite (pure Python, the default without
#    CUDA) or the compiled mmcv (CUDA present, or --mmcv-full). Both install the
#    same `mmcv` package, so one replaces the other.
# mmcv's wheel requires opencv-python; a second OpenCV distribution
# (-headless) would overwrite the same cv2/ folder, so keep exactly one.
if have 'import importlib.metadata as m; m.version("opencv-python-headless")'; then
  "$PY" -m pip uninstall -y -q opencv-python-headless
  "${PIP[@]}" -q --force-reinstall --no-deps opencv-python
fi
"${PIP[@]}" -q "mmengine==0.10.7" opencv-python addict yapf packaging pyyaml
COMPILED_OPS='import mmcv, mmcv.ops; assert mmcv.__version__ == "2.1.0"; from mmcv.ops import nms'
if [ "$MMCV_MODE" = auto ]; then
  if have 'import torch; assert torch.cuda.is_available()'; then MMCV_MODE=full; else MMCV_MODE=lite; fi
  log "mmcv: $MMCV_MODE (CUDA $( [ "$MMCV_MODE" = full ] && echo present || echo absent); --mmcv-full / --mmcv-lite choose)"
fi
dist_installed() { have "import importlib.metadata as m; m.version('$1')"; }
if [ "$MMCV_MODE" = full ]; then
  if ! have "$COMPILED_OPS"; then
    # check the build's needs before a long step starts
    command -v "${CXX:-g++}" >/dev/null 2>&1 || { echo "install.sh: --mmcv-full builds mmcv's C++ ops and needs a C++ compiler (${CXX:-g++} not found): install one (e.g. apt-get install g++), or use the default mmcv-lite (drop --mmcv-full)" >&2; exit 1; }
    "$PY" -c 'import os, sysconfig; assert os.path.isfile(os.path.join(sysconfig.get_paths()["include"], "Python.h"))' 2>/dev/null \
      || { echo "install.sh: --mmcv-full needs the Python headers (Python.h) of $PY: install them (e.g. apt-get install python3-dev), or use the default mmcv-lite" >&2; exit 1; }
    if dist_installed mmcv-lite; then "$PY" -m pip uninstall -y -q mmcv-lite; fi
    log "building mmcv 2.1.0 with ops (10-16 minutes on 2 cores the first time; cached afterwards)"
    MMCV_WITH_OPS=1 FORCE_CUDA="${FORCE_CUDA:-0}" MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
      "${PIP[@]}" --no-build-isolation "mmcv==2.1.0"
  fi
elif have "$COMPILED_OPS"; then
  log "keeping the installed mmcv with compiled ops (a superset of mmcv-lite)"
else
  if dist_installed mmcv; then "$PY" -m pip uninstall -y -q mmcv; fi
  "${PIP[@]}" -q "mmcv-lite==2.1.0"
fi

# 4. mmpose without chumpy (never imported, does not build), plus its real needs.
if ! have 'import mmpose; assert mmpose.__version__ == "1.3.2"'; then
  "${PIP[@]}" --no-deps "mmpose==1.3.2"
fi
# mmdet without deps too: it requires the `mmcv` distribution, which pip would
# build from source although mmcv-lite provides the same package
"${PIP[@]}" -q --no-deps "mmdet==3.3.0"
"${PIP[@]}" -q json_tricks munkres matplotlib scipy six pillow pycocotools \
  shapely terminaltables tqdm
# xtcocotools: its wheels are built against numpy 1 ("numpy.dtype size
# changed" under numpy 2) and stop at Python 3.11, so with numpy 2 it is built
# from its sdist (~30 s), whose setup.py reads its version through locals()
# after exec, which Python 3.13 changed (KeyError '__version__'): patched here.
if [ "$NUMPY_MAJOR" = 1 ]; then
  "${PIP[@]}" -q "xtcocotools==1.14.3"
elif ! have 'import xtcocotools._mask, xtcocotools.coco, numpy; assert numpy.__version__ >= "2"'; then
  log "building xtcocotools 1.14.3 against numpy 2 (about 30 s)"
  "${PIP[@]}" -q cython numpy matplotlib
  XTC_DIR="$(mktemp -d)"
  "$PY" - "$XTC_DIR" <<'PYEOF'
import hashlib, os, re, sys, tarfile, urllib.parse, urllib.request
out = sys.argv[1]
index = os.environ.get('PIP_INDEX_URL', 'https://pypi.org/simple').rstrip('/')
page = urllib.request.urlopen(f'{index}/xtcocotools/', timeout=60).read().decode()
url = next(u for u in re.findall(r'href="([^"]+)"', page)
           if u.split('#')[0].endswith('/xtcocotools-1.14.3.tar.gz'))
url = urllib.parse.urljoin(f'{index}/xtcocotools/', url)
data = urllib.request.urlopen(url, timeout=120).read()
digest = re.search(r'sha256=([0-9a-f]+)', url)
if digest and hashlib.sha256(data).hexdigest() != digest.group(1):
    sys.exit('xtcocotools sdist: sha256 mismatch')
path = os.path.join(out, 'xtcocotools-1.14.3.tar.gz')
open(path, 'wb').write(data)
tarfile.open(path).extractall(out, **({'filter': 'data'} if hasattr(tarfile, 'data_filter') else {}))
setup = os.path.join(out, 'xtcocotools-1.14.3', 'setup.py')
src = open(setup).read()
src = src.replace("exec(compile(f.read(), version_file, 'exec'))",
                  "ns = {}\n        exec(compile(f.read(), version_file, 'exec'), ns)")
src = src.replace("locals()['short_version']", "ns['short_version']")
src = src.replace("locals()['__version__']", "ns['__version__']")
open(setup, 'w').write(src)
PYEOF
  "${PIP[@]}" -q --no-build-isolation "$XTC_DIR/xtcocotools-1.14.3"
  rm -rf "$XTC_DIR"
fi

# 5. openmim without its opendatalab chain (it downgrades setuptools and pulls numpy 2).
"${PIP[@]}" -q --no-deps "openmim==0.3.9"
"${PIP[@]}" -q click colorama model-index "pandas<2.3" requests rich tabulate

# 6. Test, lint, benchmark and export tools, then the plugin itself (editable).
"${PIP[@]}" -q pytest hypothesis onnx onnxruntime openvino nncf psutil ruff isort yapf
"${PIP[@]}" -q --no-build-isolation --no-deps -e "$ROOT"

log "checking the stack imports"
"$PY" -c "$CHECK"
"$PY" -c 'import mmpose_ext, torch, mmcv, mmengine, mmpose, mmdet, numpy; from mmpose_ext.compat import compiled_ops_available as c; print("[install] torch", torch.__version__, "| mmcv", mmcv.__version__, "(compiled ops)" if c() else "(mmcv-lite: torch nms / roi_align)", "| mmengine", mmengine.__version__, "| mmpose", mmpose.__version__, "| mmdet", mmdet.__version__, "| numpy", numpy.__version__)'
echo "$HASH" > "$STAMP"
log "done"
