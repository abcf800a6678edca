#!/usr/bin/env bash
# Every CPU benchmark behind docs/benchmarks.md, in one go (about 11 minutes on 2 cores).
# Needs PyTorch as the reference: pip install -e ".[bench]" (or pip install torch==2.13.0 here).
# Run on a quiet machine: the timings are medians, but a busy neighbour still moves them
# (machine.txt records the load average before the first benchmark).
#
#     bash benchmarks/cpu_all.sh [OUT]          # OUT defaults to docs/results/bench-cpu
#     THREADS=4 bash benchmarks/cpu_all.sh      # threads for every library (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-docs/results/bench-cpu}
THREADS=${THREADS:-2}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
# The same threads everywhere, set before any Python starts: NumPy's BLAS (the dense layers)
# reads them only when it loads, and Numba caps its thread count at NUMBA_NUM_THREADS.
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS \
  NUMBA_NUM_THREADS=$THREADS
{
  echo "date: $(date -u +%FT%TZ)"
  lscpu | grep -E 'Model name|^CPU\(s\)' || true
  echo "nproc: $(nproc)"
  echo "uptime (load average over 1, 5, 15 minutes): $(uptime)"
  echo "threads: OMP_NUM_THREADS=$OMP_NUM_THREADS OPENBLAS_NUM_THREADS=$OPENBLAS_NUM_THREADS" \
    "MKL_NUM_THREADS=$MKL_NUM_THREADS NUMBA_NUM_THREADS=$NUMBA_NUM_THREADS; --threads $THREADS"
  python -c "import numpy, scipy, numba, sys; print('python', sys.version.split()[0], '| numpy', numpy.__version__, '| scipy', scipy.__version__, '| numba', numba.__version__)"
  python -c "import torch; print('torch', torch.__version__)" || echo "torch: not installed"
} | tee "$OUT/machine.txt"
# 1. One circulant layer, forward+backward: every backend, dense, PyTorch (table + log-log plot).
#    Exits non-zero, and so stops this script, if the implementations do not agree.
python -m benchmarks.layer --threads "$THREADS" --out "$OUT" | tee "$OUT/layer_bench.log"
#    The headline cells again with every library on one thread: the same work on the same core.
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1 \
  python -m benchmarks.layer --sizes 1024,4096,16384 --batches 128 --dtypes float32 --threads 1 \
  --no-dense --out "$OUT/one-thread" | tee "$OUT/one-thread.log"
#    And the headline cells on the script's threads four more times, circulant layers only:
#    on a shared 2-core machine a 2-thread ratio moves by 30% from run to run, so the docs quote
#    the spread of these five runs (the first is layer_bench.md's).
for i in 1 2 3 4; do
  python -m benchmarks.layer --sizes 1024,4096,16384 --batches 128 --dtypes float32 --threads "$THREADS" \
    --no-dense
done > "$OUT/headline_runs.log"
# 2. One MNIST epoch of the circulant and dense MLPs against their PyTorch twins.
python -m benchmarks.epoch --models circulant dense --backends numpy numba --repeats 3 --threads "$THREADS" \
  --out "$OUT" | tee "$OUT/epoch_bench.log"
#    And one epoch of the CNN (LeNet trunk) with its circulant and its dense head against their
#    PyTorch twins, on the script's threads and on one thread (the steadier figure when the
#    machine is shared: a busy neighbour stalls two-thread blocks most).
python -m benchmarks.cnn_epoch --heads circulant dense --backends numpy numba --steps 20 --repeats 9 \
  --threads "$THREADS" --out "$OUT" | tee "$OUT/cnn_epoch_bench.log"
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1 \
  python -m benchmarks.cnn_epoch --heads circulant dense --backends numpy numba --steps 20 --repeats 9 \
  --threads 1 --out "$OUT/one-thread" | tee "$OUT/one-thread/cnn_epoch_bench.log"
# 3. The block-circulant layer against block size.
python -m benchmarks.block --out "$OUT" | tee "$OUT/block_bench.log"
# 4. Where one training step's time goes.
for b in numpy numba; do
  python -m benchmarks.profile_train --backend "$b" --steps 200
done | tee "$OUT/profile_train.md"
# 5. Small widths, where the dense layer still wins: the crossover on its own plot.
python -m benchmarks.layer --sizes 16,32,64,128,256,512 --batches 128 --dtypes float32 --threads "$THREADS" \
  --out "$OUT/small" > "$OUT/small.log"
# 6. The transforms alone: scipy.fft against torch.fft, one worker against two.
python -m benchmarks.fft --out "$OUT" | tee "$OUT/fft_bench.log"
# 7. The default training run, for its memory and time per epoch (results.json, kept as
#    train_results.json; the checkpoint and curves stay in the scratch folder).
TRAIN_OUT=$(mktemp -d)
python -m minicirc train --out "$TRAIN_OUT" --no-progress | tee "$OUT/train.log"
cp "$TRAIN_OUT/results.json" "$OUT/train_results.json"
rm -rf "$TRAIN_OUT"
