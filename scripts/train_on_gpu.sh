#!/usr/bin/env bash
# train_on_gpu.sh -- one command per GPU session: train a learned codec with the shared resumable
# loop in ~9-minute chunks, checkpoints under $OUT, and export once the run's budget is spent.
#
#   OUT=/some/dir scripts/train_on_gpu.sh [TRAINER] [more trainer options...]
#
# Each call is one chunk: `ncodec train TRAINER --device $DEVICE --session-limit $CHUNK_S` resuming
# from $OUT/runs/$NAME (and, if that is empty, from $RESUME_FROM: the runs/$NAME folder an earlier
# chunk brought back). A chunk pauses after CHUNK_S wall seconds with a checkpoint; the run itself
# ends when its budget is spent -- TOTAL_S wall seconds summed over all chunks, or STEPS steps --
# and the LR schedule (warmup + cosine) anneals over that budget, not over one chunk. The chunk
# that spends the budget exports the weights (computed on CPU, as on a CPU run) into $OUT/weights,
# never into ncodec/weights: review them, then copy them over by hand.
# A `timeout` backstop sends SIGTERM shortly after CHUNK_S (data loading + export need time too);
# the loop answers SIGTERM by finishing its step and checkpointing.
#
# Default: the wavelet image model (bsds500). Plans (TRAINER argument): wavelet, flow, hclt, classifier, and
#   wavelet-image-ft  continue the shipped image model (wavelet_image2: 49k CPU steps, loss still falling;
#                     each 20k CPU steps of batch 8 cut Kodak BD-rate by 7-19%) at batch 32 on the GPU
#                     (exports $OUT/weights/wavelet_image_ft.pt; measure with ncodec bench wavelet first)
#   wavelet-audio-ft  fine-tune the shipped wavelet_audio with the machine-perceptual loss (issue 14 item 5):
#                     ncodec train wavelet --media audio --init-from wavelet_audio --feature-loss 0.03
#                       --batch 64 --lr 1e-4 --warmup 100 --export   (exports $OUT/weights/wavelet_audio_ft.pt;
#                     check it with ncodec eval task --task fsdd before shipping anything)
# Environment (defaults in brackets):
#   OUT [./runs]  CHUNK_S [540]  TOTAL_S [1620 = three chunks]  STEPS [100000]  DEVICE [cuda]
#   NAME [checkpoint folder name, per trainer]  RESUME_FROM []  PYTHON [.venv/bin/python or python3]
# Example, three device sessions in a row (each brings $OUT back; pass it in as RESUME_FROM):
#   OUT=$OUT scripts/train_on_gpu.sh                         # chunk 1: new run
#   OUT=$OUT RESUME_FROM=<chunk 1 files>/runs/wavelet_image scripts/train_on_gpu.sh   # chunks 2, 3
set -euo pipefail

cd "$(dirname "$0")/.."
OUT=${OUT:-./runs}
CHUNK_S=${CHUNK_S:-540}
TOTAL_S=${TOTAL_S:-1620}
STEPS=${STEPS:-100000}
DEVICE=${DEVICE:-cuda}
PYTHON=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
TRAINER=${1:-wavelet}
[ $# -gt 0 ] && shift

case "$TRAINER" in
  wavelet)    DEFAULT_NAME=wavelet_image; ARGS=(--media image --export) ;;
  wavelet-image-ft)
              TRAINER=wavelet; DEFAULT_NAME=wavelet_image_ft
              ARGS=(--media image --init-from wavelet_image2 --lr 1e-4 --warmup 100 --batch 32 --export) ;;
  wavelet-audio-ft)
              TRAINER=wavelet; DEFAULT_NAME=wavelet_audio_ft
              ARGS=(--media audio --init-from wavelet_audio --feature-loss 0.03 --batch 64 --lr 1e-4 --warmup 100 --export) ;;
  flow)       DEFAULT_NAME=flow_mnist;    ARGS=(--data mnist --export) ;;
  hclt)       DEFAULT_NAME=hclt_mnist;    ARGS=(--data mnist) ;;
  classifier) DEFAULT_NAME=clf_mnist;     ARGS=(--task mnist) ;;
  *) echo "train_on_gpu.sh: unknown trainer $TRAINER (wavelet, wavelet-image-ft, wavelet-audio-ft, flow, hclt, classifier)" >&2; exit 2 ;;
esac
NAME=${NAME:-$DEFAULT_NAME}
CKPT="$OUT/runs/$NAME"
mkdir -p "$CKPT" "$OUT/weights"

if [ ! -e "$CKPT/checkpoint.pt" ] && [ -n "${RESUME_FROM:-}" ]; then
  [ -e "$RESUME_FROM/checkpoint.pt" ] || { echo "train_on_gpu.sh: no checkpoint.pt in $RESUME_FROM" >&2; exit 2; }
  cp -p "$RESUME_FROM"/* "$CKPT"/
  echo "resuming from $RESUME_FROM"
fi

echo "chunk: $TRAINER on $DEVICE, $CHUNK_S s this session, run budget $TOTAL_S s / $STEPS steps, checkpoints in $CKPT"
rc=0
timeout -s TERM --kill-after=30 "$((CHUNK_S + 45))" \
  "$PYTHON" -m ncodec train "$TRAINER" "${ARGS[@]}" --device "$DEVICE" --steps "$STEPS" \
    --time-budget "$TOTAL_S" --session-limit "$CHUNK_S" --ckpt-dir "$CKPT" --export-dir "$OUT/weights" \
    --quiet "$@" || rc=$?

if [ -e "$CKPT/summary.json" ]; then
  "$PYTHON" - "$CKPT/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(f"run state: step {s['step']}, {s['wall_s']:.0f} s of the wall budget used, "
      + ("FINISHED (weights exported if the trainer exports)" if s["finished"] else "paused: run the next chunk"))
PY
fi
ls -l "$OUT/weights" 2>/dev/null || true
exit "$rc"
