"""Time the circulant layer's forward+backward on a GPU: minicirc's cuda backend with cuFFT and
with its own FFT, against the same layer in ``torch.fft`` and against dense layers (cuBLAS).

    python -m benchmarks.gpu --out runs/bench-gpu        # the full grid, about a minute
    python -m benchmarks.gpu --quick                     # a smoke run

What runs, per (batch, n), float32, on one GPU, in one process:

- ``circ-cufft``, ``circ-own``: ``minicirc.Circulant(n)`` (shape checks included; no NaN check,
  which is off on the GPU by default) on ``CudaBackend(fft="cufft")`` and
  ``CudaBackend(fft="own")``; the own FFT only where ``n`` is within its limit.
- ``circ-torch``: the same math in PyTorch, ``y = irfft(rfft(s * x) * rfft(r))[:, :d] + b``,
  backward by autograd (gradients for x, r and b).
- ``dense-cupy``: ``minicirc.Dense(n, n)`` on the cuda backend (CuPy matmul, cuBLAS).
- ``linear-torch``: ``torch.nn.Linear(n, n)``, autograd backward with the gradient for x too.
  Both dense layers are skipped, and marked so, where the weight exceeds ``--dense-max-mb``
  (n = 65536 in float32 would be 16 GiB). TF32 stays off (PyTorch's default for matmul), so
  dense is plain float32 like the FFT paths.

Timing: CUDA events around each call (CuPy's for minicirc, PyTorch's for torch), a few
warm-up calls first (kernel compilation, cuFFT plans), then as many calls as fit in
``--budget`` seconds within ``[--min-calls, --max-calls]``, the implementations taking turns
``--per-round`` calls at a time (``benchmarks.timing``: a drifting clock or a busy host
then weighs on minicirc and PyTorch alike); the table shows the median.
Before timing, the circulant implementations' outputs and gradients are compared with
circ-cufft's, and the largest relative difference is reported.
"""
from __future__ import annotations

import argparse
import gc
import platform
import sys
import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from minicirc import Circulant, Dense, __version__
from . import write_report
from .args import int_list, nonneg_float, nonneg_int, positive_int
from .layer import _minicirc_step, torch_circulant_step, torch_linear_step
from .timing import round_robin

IMPLS = ("circ-cufft", "circ-own", "circ-torch", "dense-cupy", "linear-torch")
CIRCULANT = ("circ-cufft", "circ-own", "circ-torch")


# -- the implementations --------------------------------------------------------------------

def _host(v: Any) -> np.ndarray:
    if hasattr(v, "detach"):
        return v.detach().cpu().numpy()
    if hasattr(v, "get"):
        return v.get()
    return np.asarray(v)


def _max_rel(a: Any, b: Any) -> float:
    a, b = _host(a).astype(np.float64), _host(b).astype(np.float64)
    return float(np.max(np.abs(a - b)) / max(1e-30, float(np.max(np.abs(b)))))


def _agreement(steps: Dict[str, Callable[[], Any]], errors: Dict[str, str]) -> Dict[str, float]:
    """Largest relative difference of y, dx, dr, db of each circulant step from circ-cufft's.

    A step that fails is recorded in ``errors`` and left out; the others are still compared.
    """
    if "circ-cufft" not in steps:
        return {}

    def outputs(name: str) -> List[np.ndarray]:
        y, dx, grads = steps[name]()
        return [_host(v) for v in (y, dx, grads["r"], grads["b"])]

    try:
        want = outputs("circ-cufft")
    except Exception as e:
        errors["circ-cufft"] = f"{type(e).__name__}: {e}"
        return {}
    agree = {}
    for name in CIRCULANT:
        if name in steps and name != "circ-cufft":
            try:
                agree[name] = max(_max_rel(g, w) for g, w in zip(outputs(name), want))
            except Exception as e:  # report and go on: one broken path must not hide the others
                errors[name] = f"{type(e).__name__}: {e}"
    return agree


# -- timing -----------------------------------------------------------------------------------

def event_timer(cupy: Any, torch: Any, name: str) -> Callable[[Callable[[], Any], int], List[float]]:
    """A timer for ``timing.round_robin``: seconds of each of ``calls`` calls of a step, by the
    CUDA events of the library that runs it (PyTorch's for the torch steps, CuPy's otherwise).

    The events of a block are recorded back to back and read after one synchronisation, so
    the host keeps queueing work as it would in training; a call bound by its host time
    shows that time, since the GPU waits for it between the two events.
    """
    def run(step: Callable[[], Any], calls: int) -> List[float]:
        if name.endswith("torch"):
            events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
                      for _ in range(calls)]
        else:
            events = [(cupy.cuda.Event(), cupy.cuda.Event()) for _ in range(calls)]
        for start, end in events:
            start.record()
            step()
            end.record()
        if name.endswith("torch"):
            torch.cuda.synchronize()
            return [1e-3 * s.elapsed_time(e) for s, e in events]
        events[-1][1].synchronize()
        return [1e-3 * cupy.cuda.get_elapsed_time(s, e) for s, e in events]
    return run


def run_config(batch: int, n: int, args: argparse.Namespace, cupy: Any, torch: Any) -> Dict[str, Any]:
    """Build every implementation for one (batch, n), check they agree, time them."""
    from minicirc.backends.cuda import CudaBackend
    from minicirc.backends.cuda.fft import max_n

    dtype = np.dtype(np.float32)
    rng = np.random.default_rng(args.seed)
    x = rng.standard_normal((batch, n)).astype(dtype)
    dy = rng.standard_normal((batch, n)).astype(dtype)
    bias = rng.standard_normal(n).astype(dtype)                  # non-zero, as in training
    steps: Dict[str, Callable[[], Any]] = {}
    skipped: Dict[str, str] = {}
    errors: Dict[str, str] = {}
    layer = None
    for impl, fft in (("circ-cufft", "cufft"), ("circ-own", "own")):
        if impl not in args.impls:
            continue
        if fft == "own" and n > max_n(dtype):
            skipped[impl] = f"n={n} > own FFT limit {max_n(dtype)}"
            continue
        try:
            bk = CudaBackend(fft=fft)
            lay = Circulant(n, rng=args.seed, dtype=dtype, backend=bk)
            lay.params["b"] = bk.asarray(bias)
            steps[impl] = _minicirc_step(lay, bk.asarray(x), bk.asarray(dy))
            if layer is None:
                layer = lay
        except Exception as e:  # report and go on: one broken path must not hide the others
            errors[impl] = f"{type(e).__name__}: {e}"
    dense_mb = n * n * dtype.itemsize / 2**20
    too_big = f"{dense_mb:.0f} MiB of weights > --dense-max-mb {args.dense_max_mb:g}"
    if "dense-cupy" in args.impls:
        if dense_mb > args.dense_max_mb:
            skipped["dense-cupy"] = too_big
        else:
            bk = CudaBackend()
            steps["dense-cupy"] = _minicirc_step(Dense(n, n, rng=args.seed, dtype=dtype, backend=bk),
                                                 bk.asarray(x), bk.asarray(dy))
    if torch is not None:
        if "circ-torch" in args.impls and layer is not None:
            steps["circ-torch"] = torch_circulant_step(torch, layer, x, dy, device="cuda")
        if "linear-torch" in args.impls:
            if dense_mb > args.dense_max_mb:
                skipped["linear-torch"] = too_big
            else:
                steps["linear-torch"] = torch_linear_step(torch, n, np.float32, x, dy, device="cuda")
    agree = _agreement(steps, errors)
    for name in errors:                       # a step that failed is not timed
        steps.pop(name, None)
    # Interleaved, so minicirc and PyTorch meet the same state of the GPU and the host.
    timed = round_robin(steps, args.max_calls, args.per_round, args.budget, warmup=args.warmup,
                        min_calls=args.min_calls, errors=errors,
                        timers={name: event_timer(cupy, torch, name) for name in steps})
    steps.clear()
    layer = None
    gc.collect()
    cupy.get_default_memory_pool().free_all_blocks()
    if torch is not None:
        torch.cuda.empty_cache()
    return {"dtype": dtype.name, "batch": batch, "n": n, "times": timed, "skipped": skipped,
            "errors": errors, "max_rel_diff_vs_circ-cufft": agree}


# -- reporting --------------------------------------------------------------------------------

def _fmt_ms(v: Optional[float]) -> str:
    if v is None:
        return "-"
    return f"{v:.3g}" if v < 100 else f"{v:.0f}"


def _ratio(t: Dict[str, float], a: str, b: str) -> str:
    return f"{t[a] / t[b]:.2f}" if a in t and b in t else "-"


def table(results: List[Dict[str, Any]], impls: List[str]) -> str:
    """Markdown: median ms per call of each implementation, then the ratios."""
    ratios = [("circ-cufft", "circ-torch"), ("circ-own", "circ-cufft"), ("linear-torch", "circ-cufft")]
    ratios = [(a, b) for a, b in ratios if a in impls and b in impls]
    head = ["batch", "n"] + [f"{i} ms" for i in impls] + [f"{a}/{b}" for a, b in ratios] + ["max rel diff"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        t = {k: v["median_ms"] for k, v in r["times"].items()}
        row = [str(r["batch"]), str(r["n"])]
        row += ["skipped" if i in r["skipped"] else "error" if i in r["errors"] else _fmt_ms(t.get(i))
                for i in impls]
        row += [_ratio(t, a, b) for a, b in ratios]
        diffs = r["max_rel_diff_vs_circ-cufft"]
        row.append(", ".join(f"{k.split('-')[1]} {v:.1e}" for k, v in diffs.items()) or "-")
        lines.append("| " + " | ".join(row) + " |")
    notes = sorted({f"n={r['n']}: {k} skipped: {v}" for r in results for k, v in r["skipped"].items()})
    notes += [f"batch {r['batch']} n={r['n']}: {k} failed: {v}" for r in results for k, v in r["errors"].items()]
    return "\n".join(lines + [""] + notes)


def environment(cupy: Any, torch: Any) -> Dict[str, Any]:
    """Device name and the versions of everything timed."""
    import numba

    from importlib import metadata

    props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])

    def version(dist: str) -> Optional[str]:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    def cuda_version(v: int) -> str:
        return f"{v // 1000}.{v % 1000 // 10}"

    return {"device": name, "compute_capability": cupy.cuda.Device().compute_capability,
            "cuda_runtime": cuda_version(cupy.cuda.runtime.runtimeGetVersion()),
            "cuda_driver": cuda_version(cupy.cuda.runtime.driverGetVersion()),
            "cupy": cupy.__version__, "numba": numba.__version__, "numba-cuda": version("numba-cuda"),
            "torch": getattr(torch, "__version__", None),
            "torch_cuda": getattr(getattr(torch, "version", None), "cuda", None),
            "minicirc": __version__, "numpy": np.__version__, "python": platform.python_version()}


# -- command line -----------------------------------------------------------------------------

def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int_list, default=None, help="layer widths n (default 1024,4096,16384,65536)")
    p.add_argument("--batches", type=int_list, default=None, help="batch sizes (default 128,1024)")
    p.add_argument("--impls", default=",".join(IMPLS), help=f"which to run (default all: {','.join(IMPLS)})")
    p.add_argument("--warmup", type=nonneg_int, default=3, help="untimed calls first (default 3)")
    p.add_argument("--budget", type=nonneg_float, default=None, help="seconds of timed calls per implementation "
                   "and configuration (default 0.5)")
    p.add_argument("--min-calls", type=positive_int, default=10, help="timed calls at least (default 10)")
    p.add_argument("--max-calls", type=positive_int, default=200, help="timed calls at most (default 200)")
    p.add_argument("--per-round", type=positive_int, default=10, help="calls of one implementation before the "
                   "next one's turn (default 10)")
    p.add_argument("--dense-max-mb", type=nonneg_float, default=4096.0,
                   help="skip dense layers with more MiB of weights (default 4096: n=65536 is skipped)")
    p.add_argument("--no-torch", dest="torch", action="store_false", help="leave out PyTorch")
    p.add_argument("--seed", type=nonneg_int, default=0)
    p.add_argument("--out", default=None, help="directory for gpu_bench.{md,json}")
    p.add_argument("--quick", action="store_true", help="a smoke run: n 1024,4096, batch 128, short budget")
    args = p.parse_args(argv)
    args.sizes = args.sizes or ([1024, 4096] if args.quick else [1024, 4096, 16384, 65536])
    args.batches = args.batches or ([128] if args.quick else [128, 1024])
    args.budget = args.budget if args.budget is not None else (0.1 if args.quick else 0.5)
    args.impls = [i for i in args.impls.split(",") if i]
    unknown = sorted(set(args.impls) - set(IMPLS))
    if unknown:
        p.error(f"unknown --impls {unknown}; choose from {', '.join(IMPLS)}")
    return args


def main(argv: Optional[List[str]] = None) -> List[Dict[str, Any]]:
    args = parse_args(argv)
    from minicirc.backends.cuda import CudaBackend

    CudaBackend()                     # a clear RuntimeError here if there is no GPU, before anything else
    import cupy

    torch = None
    if args.torch:
        try:
            import torch  # noqa: F811
        except ImportError:
            print("PyTorch is not installed: circ-torch and linear-torch are left out", flush=True)
        else:
            if not torch.cuda.is_available():
                print("PyTorch sees no GPU: circ-torch and linear-torch are left out", flush=True)
                torch = None
    impls = [i for i in args.impls if torch is not None or not i.endswith("torch")]
    env = environment(cupy, torch)
    meta = {**env, "argv": sys.argv[1:] if argv is None else list(argv), "dtype": "float32",
            "timing": f"CUDA events, median of {args.min_calls}..{args.max_calls} calls "
                      f"({args.budget:g} s budget) after {args.warmup} warm-up calls, the "
                      f"implementations taking turns {args.per_round} calls at a time"}
    print("GPU benchmark: circulant layer forward+backward, float32, median ms per call")
    for k, v in env.items():
        print(f"  {k}: {v}")
    print(flush=True)
    results = []
    t_start = time.perf_counter()
    for batch in args.batches:
        for n in args.sizes:
            t0 = time.perf_counter()
            r = run_config(batch, n, args, cupy, torch)
            results.append(r)
            t = "  ".join(f"{k} {_fmt_ms(v['median_ms'])}" for k, v in r["times"].items())
            print(f"  batch {batch} n {n}: {t}  [{time.perf_counter() - t0:.1f} s]", flush=True)
            for k, v in r["errors"].items():
                print(f"    {k} failed: {v}", flush=True)
            if args.out:              # after every configuration: a run cut short keeps its table
                write_report(args.out, "gpu_bench", f"Circulant layer forward+backward on {env['device']}, "
                             "float32, median ms per call", "benchmarks.gpu", meta,
                             table(results, impls), results)
    md = table(results, impls)
    print()
    print(md)
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s")
    if args.out:
        print(f"wrote {args.out}/gpu_bench.{{md,json}}")
    return results


if __name__ == "__main__":
    main()
