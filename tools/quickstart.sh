#!/usr/bin/env bash
# Install everything, then run the quick start on a built-in demo data set:
#   1. generate a small synthetic COCO-format data set (data/synthetic_coco),
#   2. train a small SG-HRNet on it with `mim train mmpose` (MMPose's runner),
#   3. evaluate the checkpoint with MMPose's CocoMetric (tools/test.py),
#   4. train a small RTMDet person detector (MMDet) on the same data,
#   5. write its person boxes on the val images (tools/detect_persons.py,
#      with their box AP) and evaluate the pose model on them (CocoMetric),
#   6. run detector -> pose on a demo image (tools/topdown_demo.py) and draw
#      the model's heatmaps and segmentation maps (tools/vis_heatmaps.py).
#
#   bash tools/quickstart.sh            # uses/creates .venv in the checkout
#   bash tools/quickstart.sh --active   # uses the already-active environment
#
# Idempotent: finished steps are skipped on a second run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/install.sh" "$@"
if [ "${1:-}" = "--active" ]; then BIN="$(dirname "$(command -v python)")"; else BIN="${MMPOSE_EXT_VENV:-$ROOT/.venv}/bin"; fi
PY="$BIN/python"
cd "$ROOT"
# On a 2-core machine the dataloader workers take one core; two OpenMP
# threads in the trainer then oversubscribe the CPU and a step gets several
# times slower. Set OMP_NUM_THREADS yourself on bigger machines. The
# detector trains without dataloader workers, so it gets every core.
DET_THREADS="${OMP_NUM_THREADS:-$(nproc 2>/dev/null || echo 1)}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

CFG=configs/quickstart/sg_hrnet_w16_synthetic_coco.py
DATA=data/synthetic_coco
WORK=work_dirs/quickstart
OUT=outputs/quickstart
log() { printf '\n[quickstart] %s\n' "$*"; }

if [ ! -f "$DATA/annotations/person_keypoints_val2017.json" ]; then
  log "1/7 generating the demo data set in $DATA"
  "$PY" tools/make_synthetic_dataset.py coco "$DATA" --num-train 300 --num-val 40 --seed 0
else
  log "1/7 demo data set already in $DATA"
fi

CKPT="$("$PY" -c "from mmengine import Config; print('$WORK/epoch_%d.pth' % Config.fromfile('$CFG').train_cfg.max_epochs)")"
if [ ! -f "$CKPT" ]; then
  log "2/7 training $CFG with mim (work dir $WORK)"
  "$BIN/mim" train mmpose "$CFG" --work-dir "$WORK"
else
  log "2/7 already trained: $CKPT"
fi

log "3/7 evaluating $CKPT with CocoMetric on the boxes of the generated detection file"
"$PY" tools/test.py "$CFG" "$CKPT" --work-dir "$WORK/test" 2>&1 | tee "$WORK/test.log" | grep -E "coco/AP|coco/AR" || true
grep -q "coco/AP" "$WORK/test.log" || { echo "[quickstart] evaluation failed, see $WORK/test.log" >&2; exit 1; }

DET_CFG=configs/detectors/rtmdet_tiny_person_synthetic.py
DET_WORK=work_dirs/quickstart_detector
DET_CKPT="$("$PY" -c "from mmengine import Config; print('$DET_WORK/epoch_%d.pth' % Config.fromfile('$DET_CFG').train_cfg.max_epochs)")"
if [ ! -f "$DET_CKPT" ]; then
  log "4/7 training the person detector $DET_CFG (MMDet, work dir $DET_WORK)"
  OMP_NUM_THREADS="$DET_THREADS" "$PY" tools/train_detector.py "$DET_CFG" --work-dir "$DET_WORK"
else
  log "4/7 person detector already trained: $DET_CKPT"
fi

DETS="$DET_WORK/val2017_person_detections.json"
log "5/7 person boxes of $DET_CKPT on the val images, and the pose model evaluated on them"
"$PY" tools/detect_persons.py "$DET_CFG" "$DET_CKPT" \
  --ann-file "$DATA/annotations/person_keypoints_val2017.json" \
  --img-dir "$DATA/val2017" --out "$DETS" --score-thr 0.05 --max-per-img 10 --eval 2>&1 | tee "$DET_WORK/detect.log" | grep -E "person box AP|written" || true
grep -q "person box AP" "$DET_WORK/detect.log" || { echo "[quickstart] detection failed, see $DET_WORK/detect.log" >&2; exit 1; }
"$PY" tools/test.py "$CFG" "$CKPT" --work-dir "$WORK/test_own_detector" \
  --cfg-options test_dataloader.dataset.bbox_file="$DETS" 2>&1 | tee "$WORK/test_own_detector.log" | grep -E "coco/AP|coco/AR" || true
grep -q "coco/AP" "$WORK/test_own_detector.log" || { echo "[quickstart] evaluation on the detector boxes failed, see $WORK/test_own_detector.log" >&2; exit 1; }

log "6/7 detector -> pose on a demo image, and the model's maps"
mkdir -p "$OUT"
IMG="$(ls "$DATA"/val2017/*.jpg | head -n 1)"
"$PY" tools/topdown_demo.py "$CFG" "$CKPT" --input "$IMG" --out-dir "$OUT" \
  --det-config "$DET_CFG" --det-checkpoint "$DET_CKPT"
# the demo image's best detection, for the heatmap figure
BOX="$("$PY" -c "import json, os, sys
d = [x for x in json.load(open(sys.argv[1])) if x['image_id'] == int(os.path.basename(sys.argv[2])[:-4])]
x, y, w, h = max(d, key=lambda x: x['score'])['bbox'] if d else (0, 0, 0, 0)
print(f'{x} {y} {x + w} {y + h}' if d else '')" "$DETS" "$IMG")"
"$PY" tools/vis_heatmaps.py "$CFG" "$CKPT" "$IMG" ${BOX:+--bbox $BOX} --out "$OUT/heatmaps.png"

log "7/7 the same chain without the training stack: both models exported, run by mmpose_ext_runtime"
mkdir -p "$OUT/runtime"
"$PY" tools/export_onnx.py "$CFG" "$CKPT" --out "$OUT/runtime/pose.onnx" 2>&1 | grep -E "^Wrote" || true
"$PY" tools/export_detector_onnx.py "$DET_CFG" "$DET_CKPT" --out "$OUT/runtime/det.onnx" 2>&1 | grep -E "^Wrote" || true
"$PY" -m mmpose_ext_runtime --pose "$OUT/runtime/pose.json" --det "$OUT/runtime/det.json" \
  --input "$IMG" --out-dir "$OUT/runtime"
# the pictures of README.md / docs/inference.md (small JPEGs) are replaced
# only on request, so that a user's run leaves the checkout clean
if [ "${MMPOSE_EXT_UPDATE_DOC_IMAGES:-0}" = 1 ]; then
  cp "$OUT/$(basename "$IMG")" docs/images/topdown_demo.jpg
  "$PY" -c "import cv2, sys; im = cv2.imread(sys.argv[1]); cv2.imwrite(sys.argv[2], cv2.resize(im, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA), [cv2.IMWRITE_JPEG_QUALITY, 85])" \
    "$OUT/heatmaps.png" docs/images/heatmaps_sg_hrnet.jpg
  log "README pictures replaced in docs/images/"
fi
log "done: picture, heatmaps.png and predictions.json in $OUT (runtime's in $OUT/runtime)"
