#!/usr/bin/env bash
# Every GPU figure docs/benchmarks.md reports ("On a GPU"), in one run, most important
# first; each benchmark has its own time limit so that one slow part cannot take the rest
# with it (about 20 minutes in all on an H200, most of it compiling; the first 9 minutes
# covered the first five sections there).
#
#   bash benchmarks/gpu.sh [LOG]        # needs a CUDA jax, PyTorch (.[bench]) and, for
#                                       # fid_features, pytorch-fid (.[parity])
#
# Output: the tables, in LOG (default gpu.log) and on stdout.
set -u
LOG=${1:-gpu.log}
PY=${PYTHON:-python}
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_MEM_FRACTION=${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.6}
: > "$LOG"

section() {  # section SECONDS TITLE COMMAND...
  local limit=$1 title=$2
  shift 2
  local start=$SECONDS
  echo "=== $title" | tee -a "$LOG"
  timeout "$limit" "$@" 2>&1 | grep -v -E '^[WI][0-9]{4} ' | tee -a "$LOG"
  echo "=== rc ${PIPESTATUS[0]}, $((SECONDS - start)) s" | tee -a "$LOG"
}

$PY -c 'import jax, flax, optax, torch; print("jax", jax.__version__, jax.devices(), "flax",
flax.__version__, "optax", optax.__version__, "torch", torch.__version__,
torch.cuda.is_available())' 2>&1 | tee -a "$LOG"
nvidia-smi -L 2>&1 | tee -a "$LOG"
# Fail fast: one compiled train step of the default config's models.
section 60 'smoke: one DCGAN train step' $PY -m benchmarks.conv_step --batch 8 --variants plain \
  --parts steps --rounds 1 --steps 1
grep -q '^| digits DCGAN' "$LOG" || { echo 'smoke failed'; exit 1; }

section 170 'conv_step float32' $PY -m benchmarks.conv_step --impl auto,flax --steps 20
section 150 'vmap_seeds' $PY -m benchmarks.vmap_seeds
section 70 'fid_features' $PY -m benchmarks.fid_features --batch 500 --rounds 5
section 130 'conv_step bfloat16' $PY -m benchmarks.conv_step --dtype bfloat16 --steps 20
section 160 'resnet_step' $PY -m benchmarks.resnet_step --width 128,256 --steps 10 --rounds 5
section 300 'sr_step' $PY -m benchmarks.sr_step --steps 5 --rounds 5
section 100 'conv_step float32, batch 64 and 128' $PY -m benchmarks.conv_step --batch 64,128 \
  --variants plain,wgan_gp --parts steps --steps 20
section 60 'conv_layers' $PY -m benchmarks.conv_layers
