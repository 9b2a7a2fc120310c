#!/usr/bin/env bash
# Every GPU figure docs/benchmarks.md reports ("On a GPU"), in one run, most important
# first; each benchmark has its own time limit so that one slow part cannot take the rest
# with it (the section limits add up to about 35 minutes on an H200, most of it compiling). Name sections to run
# only those, in the order given (a lease of 15 minutes holds about half of them).
#
#   bash benchmarks/gpu.sh [LOG [SECTION...]]  # needs a CUDA jax, PyTorch (.[bench]) and,
#                                              # for fid, pytorch-fid (.[parity])
#
# Sections: smoke conv_f32 vmap fid conv_bf16 resnet sr sr_small conv_batches
# conv_batches_bf16 conv_layers sr_rrdb_scan vmap_widths sr_rrdb (all of them, in this
# order, when none is named).
# Output: the tables, in LOG (default gpu.log) and on stdout.
set -u
ALL='smoke conv_f32 vmap fid conv_bf16 resnet sr sr_small conv_batches conv_batches_bf16
  conv_layers sr_rrdb_scan vmap_widths sr_rrdb'
LOG=${1:-gpu.log}
shift $(( $# > 0 ? 1 : 0 ))
SECTIONS=${*:-$ALL}
known() { [[ " $(echo $ALL) " == *" $1 "* ]]; }
# Every name checked before the first (minutes-long) section.
known "$LOG" && { echo "gpu.sh: the first argument is the log file, not a section ('$LOG'):" \
  'bash benchmarks/gpu.sh LOG [SECTION...]'; exit 2; }
for name in $SECTIONS; do
  known "$name" || { echo "gpu.sh: unknown section '$name'; the sections: $(echo $ALL)"; exit 2; }
done
PY=${PYTHON:-python3}
case $LOG in /*) ;; *) LOG=$PWD/$LOG ;; esac  # the caller's folder, before the cd below
cd "$(dirname "$0")/.." || exit 2  # python -m benchmarks.* runs from the repository root
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
for name in $SECTIONS; do
  case $name in
    smoke)  # fail fast: one compiled train step of the default config's models
      section 60 'smoke: one DCGAN train step' $PY -m benchmarks.conv_step --batch 8 \
        --variants plain --parts steps --rounds 1 --steps 1
      grep -q '^| digits DCGAN' "$LOG" || { echo 'smoke failed'; exit 1; } ;;
    conv_f32) section 170 'conv_step float32' $PY -m benchmarks.conv_step --impl fast,flax \
      --steps 20 ;;
    vmap) section 150 'vmap_seeds' $PY -m benchmarks.vmap_seeds ;;
    fid) section 70 'fid_features' $PY -m benchmarks.fid_features --batch 500 --rounds 5 ;;
    conv_bf16) section 130 'conv_step bfloat16' $PY -m benchmarks.conv_step --dtype bfloat16 \
      --steps 20 ;;
    resnet) section 160 'resnet_step' $PY -m benchmarks.resnet_step --width 128,256 --steps 10 \
      --rounds 5 ;;
    sr) section 100 'sr_step, the paper'"'"'s SRResNet' $PY -m benchmarks.sr_step \
      --models srresnet --steps 3 --rounds 3 ;;
    sr_rrdb)  # printed nothing in 195 s on an H200 (steps 1, rounds 1): it prints its phases
      section 500 'sr_step, the paper'"'"'s RRDBNet' $PY -m benchmarks.sr_step --models rrdb \
        --steps 3 --rounds 3 ;;
    sr_rrdb_scan)  # its 23 RRDBs as one nn.scan: one block compiled, not 23
      section 150 'sr_step, the paper'"'"'s RRDBNet, scanned' $PY -m benchmarks.sr_step \
        --models rrdb --scan on --steps 3 --rounds 3 ;;
    vmap_widths) section 120 'vmap_seeds, widths 32 and 128' $PY -m benchmarks.vmap_seeds \
      --widths 32,128 --rounds 3 ;;
    sr_small) section 100 'sr_step, the small models' $PY -m benchmarks.sr_step \
      --models srresnet_small,rrdb_small --steps 5 --rounds 3 ;;
    conv_batches) section 130 'conv_step float32, batch 64 and 128' $PY -m benchmarks.conv_step \
      --batch 64,128 --parts steps --steps 20 ;;
    conv_batches_bf16) section 120 'conv_step bfloat16, batch 64 and 128' \
      $PY -m benchmarks.conv_step --dtype bfloat16 --batch 64,128 --parts steps --steps 20 ;;
    conv_layers) section 150 'conv_layers' $PY -m benchmarks.conv_layers ;;
  esac
done
