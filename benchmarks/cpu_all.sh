#!/usr/bin/env bash
# Every CPU benchmark behind docs/benchmarks.md, in one go (about 15 minutes on 2 cores).
# Needs PyTorch as the reference: pip install -e ".[bench]" (or pip install torch==2.13.0 here).
# Run on a quiet machine: the timings are medians, but a busy neighbour still moves them.
#
#     bash benchmarks/cpu_all.sh [OUT]          # OUT defaults to docs/results/bench-cpu
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-docs/results/bench-cpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
{
  echo "date: $(date -u +%FT%TZ)"
  lscpu | grep -E 'Model name|^CPU\(s\)' || true
  python -c "import numpy, scipy, numba, sys; print('python', sys.version.split()[0], '| numpy', numpy.__version__, '| scipy', scipy.__version__, '| numba', numba.__version__)"
  python -c "import torch; print('torch', torch.__version__)" || echo "torch: not installed"
} | tee "$OUT/machine.txt"
# 1. One circulant layer, forward+backward: every backend, dense, PyTorch (table + log-log plot).
python -m minicirc.bench.layer --threads 2 --out "$OUT" | tee "$OUT/layer_bench.log"
# 2. One MNIST epoch of the circulant and dense MLPs against their PyTorch twins.
python -m minicirc.bench.epoch --models circulant dense --backends numpy numba --repeats 3 --threads 2 \
  --out "$OUT/epoch_bench.json" | tee "$OUT/epoch_bench.md"
# 3. The block-circulant layer against block size.
python -m minicirc.bench.block --out "$OUT" | tee "$OUT/block_bench.log"
# 4. Where one training step's time goes.
for b in numpy numba; do
  python -m minicirc.bench.profile_train --backend "$b" --steps 200
done | tee "$OUT/profile_train.md"
# 5. Small widths, where the dense layer still wins: the crossover on its own plot.
python -m minicirc.bench.layer --sizes 16,32,64,128,256,512 --batches 128 --dtypes float32 --threads 2 \
  --out "$OUT/small" > "$OUT/small.log"
