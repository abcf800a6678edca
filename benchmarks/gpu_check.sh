#!/usr/bin/env bash
# The one script for a machine with an NVIDIA GPU: environment report, the GPU tests (the captured
# training step's among them), the captured-step benchmark (layer and MNIST epoch: minicirc eager and
# graph, PyTorch eager and graphed, minicirc on the CPU), the layer grid benchmark, the layer profile,
# two MNIST epochs on the cuda backend and a training-step profile, in that order of importance.
# Run from anywhere in the repository:
#
#     OUT=/some/dir bash benchmarks/gpu_check.sh        # OUT defaults to ./gpu_check_out
#
# Every stage runs under `timeout`, capped by one deadline for the whole script (DEADLINE_S,
# default 420 s, which leaves a 15-minute device session time to start the machine and to rerun
# a part), and a failing stage never stops the next one: $OUT/summary.txt records each stage's exit
# code (124 = timed out) and seconds. Output files (8 at most, 2 folders deep):
#   summary.txt  env.log  test_gpu.log  bench.log  bench/gpu_graph.md  bench/gpu_bench.md
#   train.log  train/<result>
# bench.log holds every benchmark's and profile's printed output (the layer profile's table only
# there); the JSON twins are removed (the markdown tables carry the same numbers) to stay within
# the 8 files.
# Training writes to a scratch folder and only its smallest results file is copied to
# $OUT/train, so that checkpoints and plots cannot crowd out the logs.

set -u
cd "$(dirname "$0")/.." || exit 1
REPO=$PWD
OUT=${OUT:-$REPO/gpu_check_out}
mkdir -p "$OUT"
PY=${PYTHON:-$(command -v python3 || command -v python)}
DEADLINE_S=${DEADLINE_S:-420}
export PYTHONUNBUFFERED=1
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"   # importable even if the editable install fails
export PIP_DISABLE_PIP_VERSION_CHECK=1
export NUMBA_CUDA_LOW_OCCUPANCY_WARNINGS=0          # small test grids would flood the logs
unset NUMBA_ENABLE_CUDASIM
# Compatibility shim for the GPU image, not for minicirc: numba-cuda 0.30.4 registers an
# overload for numpy.row_stack at import, and NumPy 2.5 removed row_stack (an alias of vstack),
# so every kernel compile there fails with "module 'numpy' has no attribute 'row_stack'"
# (seen 2026-11-27 on the H100 image: numpy 2.5.2, numba-cuda 0.30.4). A sitecustomize on
# PYTHONPATH restores the alias in every Python this script starts.
SHIM=$(mktemp -d)
cat > "$SHIM/sitecustomize.py" <<'PYEOF'
import numpy
if not hasattr(numpy, "row_stack"):
    numpy.row_stack = numpy.vstack
PYEOF
export PYTHONPATH="$SHIM:$PYTHONPATH"
START=$(date +%s)
SUMMARY=$OUT/summary.txt
printf '%-10s %5s %6s  %s\n' stage rc secs note > "$SUMMARY"

# run_stage NAME CAP_SECONDS LOGFILE CMD...: run CMD under timeout, log, record rc and time.
run_stage() {
  local name=$1 cap=$2 log=$3; shift 3
  local left=$(( DEADLINE_S - ($(date +%s) - START) ))
  local limit=$(( cap < left ? cap : left ))
  if [ "$limit" -lt 5 ]; then
    printf '%-10s %5s %6s  %s\n' "$name" - 0 "not run: the ${DEADLINE_S} s deadline is spent" >> "$SUMMARY"
    echo "== $name: not run, no time left" | tee -a "$log"
    return 0
  fi
  echo "== $name (limit ${limit} s): $*" | tee -a "$log"
  local t0=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" >> "$log" 2>&1
  local rc=$?
  local secs=$(( $(date +%s) - t0 ))
  local note
  note=$(grep -E '^(=+ )?[0-9]+ (passed|failed|error|skipped)|no tests ran' "$log" | tail -1 | tr -s '= ' ' ')
  [ "$rc" -eq 124 ] && note="timed out after ${limit} s; $note"
  printf '%-10s %5s %6s  %s\n' "$name" "$rc" "$secs" "$note" >> "$SUMMARY"
  echo "== $name: exit $rc after ${secs} s" | tee -a "$log"
}

# -- 1. environment ----------------------------------------------------------------------------
ENV=$OUT/env.log
{
  echo "date: $(date -u +%FT%TZ)  host: $(hostname)  python: $PY"
  command -v nvidia-smi >/dev/null && nvidia-smi || echo "nvidia-smi not found"
  "$PY" --version
  "$PY" -m pip list 2>/dev/null | grep -i -E '^(numpy|scipy|numba|numba-cuda|llvmlite|cupy|torch|pytest|tqdm|matplotlib|cuda|nvidia)' || true
  git -C "$REPO" log --oneline -3 2>/dev/null || true
} > "$ENV" 2>&1

run_stage install 90 "$ENV" "$PY" -m pip install -q --no-deps --no-build-isolation --no-index -e "$REPO"

# A tiny Numba kernel on a CuPy array: tells a broken toolchain (driver, NVVM) from a bug of ours.
run_stage smoke 60 "$ENV" "$PY" - <<'EOF'
import sys, numpy as np
import numba, cupy
from numba import cuda
print("numba", numba.__version__, "| numba.cuda:", getattr(cuda, "implementation", "?"), cuda.__file__)
print("cupy", cupy.__version__, "| CUDA runtime", cupy.cuda.runtime.runtimeGetVersion(),
      "driver", cupy.cuda.runtime.driverGetVersion(), "| devices", cupy.cuda.runtime.getDeviceCount())
try:
    import torch
    print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
except Exception as e:
    print("torch not usable:", e)
cuda.detect()

@cuda.jit
def twice(a):
    i = cuda.grid(1)
    if i < a.shape[0]:
        a[i] = a[i] * numba.float32(2)

a = cupy.arange(100, dtype=cupy.float32)
twice[1, 128](cuda.as_cuda_array(a, sync=False))
assert np.array_equal(cupy.asnumpy(a), 2 * np.arange(100, dtype=np.float32)), "kernel gave wrong values"
# The path minicirc takes: kernels.launch (Numba's dispatcher, CuPy arrays as sync=False views)
# on a non-blocking CuPy stream wrapped by cuda.external_stream.
from minicirc.backends.cuda.kernels import launch
side = cupy.cuda.Stream(non_blocking=True)
numba_side = cuda.external_stream(side.ptr)
with side:
    for _ in range(3):
        launch(twice, (1, 1, 1), (128, 1, 1), numba_side, 0, a)
side.synchronize()
assert np.array_equal(cupy.asnumpy(a), 16 * np.arange(100, dtype=np.float32)), "launch path gave wrong values"
from minicirc.backends import get_backend
for name in ("cuda", "cuda-ownfft"):
    print(get_backend(name))
print("smoke ok")
EOF

# -- 2. tests on the GPU -------------------------------------------------------------------------
MINICIRC_REQUIRE_GPU=1 \
run_stage test_gpu 150 "$OUT/test_gpu.log" \
  "$PY" -m pytest -q -m gpu -rsfE --durations=8 -p no:cacheprovider tests/test_gpu.py

# -- 3. the captured step against the eager one and PyTorch (the issue's figures), then the layer grid
#    benchmark and the profile of the layer's pieces (host vs GPU time per call; printed only)
run_stage graph 190 "$OUT/bench.log" "$PY" -m benchmarks.gpu_graph --out "$OUT/bench"
run_stage bench 90 "$OUT/bench.log" "$PY" -m benchmarks.gpu --out "$OUT/bench"
run_stage profile 40 "$OUT/bench.log" "$PY" -m benchmarks.gpu_profile
rm -f "$OUT/bench/gpu_bench.json" "$OUT/bench/gpu_graph.json" "$OUT/bench/gpu_profile.json"

# -- 4. two MNIST epochs on the cuda backend: the first includes compiling the kernels and planning
#    the FFTs, the second is the steady state (results.json has each epoch's seconds) -----------
SCRATCH=$(mktemp -d)
if command -v minicirc >/dev/null 2>&1; then
  TRAIN=(minicirc train)
else
  TRAIN=("$PY" -c 'import sys; sys.argv = ["minicirc"] + sys.argv[1:]; from minicirc.mnist.cli import main; sys.exit(main())' train)
fi
run_stage train 70 "$OUT/train.log" "${TRAIN[@]}" --backend cuda --epochs 2 --out "$SCRATCH/train"
{
  echo "== files the training wrote (in $SCRATCH/train):"
  ls -la "$SCRATCH/train" 2>&1 | head -40
} >> "$OUT/train.log"
RESULT=$(find "$SCRATCH/train" -maxdepth 2 -type f \( -name '*.json' -o -name '*.md' -o -name '*.csv' -o -name '*.txt' \) \
           -size -512k -printf '%s %p\n' 2>/dev/null | sort -n | grep -i -E 'result|metric|summary|history' | head -1 | cut -d' ' -f2-)
[ -z "$RESULT" ] && RESULT=$(find "$SCRATCH/train" -maxdepth 2 -type f \( -name '*.json' -o -name '*.md' \) -size -512k 2>/dev/null | head -1)
if [ -n "$RESULT" ]; then
  mkdir -p "$OUT/train" && cp "$RESULT" "$OUT/train/$(basename "$RESULT" | tr -c 'A-Za-z0-9._\n-' '_')"
fi
rm -rf "$SCRATCH"

# -- 5. where the host time of a whole eager MNIST training step goes (cProfile, own time per function)
run_stage stepprof 30 "$OUT/bench.log" "$PY" -m benchmarks.profile_train --backend cuda --steps 200 --top 25

echo "total $(( $(date +%s) - START )) s" >> "$SUMMARY"
cat "$SUMMARY"
