"""Time one layer's forward+backward: the circulant layer on every CPU backend, against a
dense layer of the same width and, when PyTorch is installed, the same circulant layer in
``torch.fft`` and ``torch.nn.Linear``.

    python -m benchmarks.layer --out runs/bench          # the full grid, a few minutes
    python -m benchmarks.layer --quick                   # a smoke run, seconds

What runs, per (dtype, batch, n), all in the same process and the same run:

- ``circ-numpy``, ``circ-numba``: ``minicirc.Circulant(n)`` (input checks included) on the
  numpy backend (the reference, scipy.fft on one thread) and the numba backend.
- ``dense-numpy``: ``minicirc.Dense(n, n)`` (NumPy matmul; NumPy's BLAS picks its threads).
- ``circ-torch``: the same math in PyTorch, ``y = irfft(rfft(s * x) * rfft(r))[:, :d] + b``,
  backward by autograd (``y.backward(dy)``, gradients for x, r and b).
- ``linear-torch``: ``torch.nn.Linear(n, n)``, backward by autograd, gradients for x too.

Timing: two warm-up calls per implementation, then rounds in which every implementation
runs ``--per-round`` timed calls in turn (round-robin, so that drift in the machine's load
hits all of them alike): first the circulant implementations among themselves, then the
dense ones, so that no FFT path is timed in the wake of a large matmul's threads; the table
shows the median time per call. A slow implementation
(dense at large n) gets fewer calls, sized by ``--budget``, but never fewer than three.
Dense layers whose weight matrix exceeds ``--dense-max-mb`` are skipped and marked so.
The numba backend and the transforms it calls use ``--threads`` threads, and so does
PyTorch (``torch.set_num_threads``). NumPy's BLAS (``dense-numpy``) reads its thread count
from ``OPENBLAS_NUM_THREADS`` / ``MKL_NUM_THREADS`` / ``OMP_NUM_THREADS`` when NumPy loads, so
only those variables, set before Python starts, pin it (``benchmarks/cpu_all.sh`` does); the
script prints the threads each library runs on and records them in the report.

Before timing, every circulant implementation's y, dx, dr and db are compared with the first
backend's; the table's ``agreement`` column shows the largest relative difference, and a
difference above 1e-4 (float32) or 1e-10 (float64) is marked DISAGREES and makes the command
exit with status 1.
"""
from __future__ import annotations

import argparse
import gc
import math
import os
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from minicirc import Circulant, Dense, __version__
from . import write_report
from .timing import TooManyThreads, describe_threads, pinned_threads, round_robin, run_meta
from minicirc.backends import get_backend
from .args import int_list, nonneg_float, nonneg_int, positive_int

IMPLS = ("circ-numpy", "circ-numba", "dense-numpy", "circ-torch", "linear-torch")
CIRCULANT = {"circ-numpy", "circ-numba", "circ-torch"}
#: The backends a CPU benchmark can time (its inputs are NumPy arrays).
CPU_BACKENDS = ("numpy", "numba")
#: Largest relative difference of a circulant implementation from the reference that still
#: counts as agreement: a few float32 / float64 roundings of an n-point FFT, with room to spare
#: (measured: 4.2e-7 and 8.4e-16 against PyTorch).
AGREEMENT_TOL = {"float32": 1e-4, "float64": 1e-10}


# -- command-line types, shared with the other CPU benchmarks ----------------------------------

def distinct(values: Sequence[str], what: str, allowed: Sequence[str]) -> List[str]:
    """``values`` checked: at least one, each in ``allowed``, none twice (two runs of the same
    name would land on one key of the results and merge). Raises ``ArgumentTypeError``."""
    values = [v.strip() for v in values if v.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"no {what} given; choose from {', '.join(allowed)}")
    bad = [v for v in values if v not in allowed]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown {what} {', '.join(map(repr, bad))}; choose from "
                                         f"{', '.join(allowed)}")
    twice = sorted({v for v in values if values.count(v) > 1})
    if twice:
        raise argparse.ArgumentTypeError(f"{what} {', '.join(map(repr, twice))} given twice")
    return values


def backend_list(text: str) -> List[str]:
    """An argparse type: comma-separated distinct CPU backends, ``"numpy,numba"``."""
    return distinct(text.split(","), "backend", CPU_BACKENDS)


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch


# -- the implementations ----------------------------------------------------------------

def _minicirc_step(layer: Any, x: Any, dy: Any) -> Callable[[], Any]:
    def step() -> Any:
        y = layer.forward(x)
        return y, layer.backward(dy), layer.grads
    return step


def torch_circulant_step(torch: Any, layer: Any, x: np.ndarray, dy: np.ndarray,
                         device: str = "cpu") -> Callable[[], Any]:
    """The circulant layer in torch.fft with the parameters of ``layer`` (on any backend),
    on ``device``; autograd backward. The reference of this benchmark and of the GPU one."""
    bk = layer.backend
    n, d_out = layer.n, layer.d_out
    r = torch.tensor(bk.to_numpy(layer.params["r"]), device=device, requires_grad=True)
    b = torch.tensor(bk.to_numpy(layer.params["b"]), device=device, requires_grad=True)
    s = torch.tensor(bk.to_numpy(layer.signs[: layer.d_in]), device=device)
    xt = torch.tensor(x, device=device, requires_grad=True)
    dyt = torch.tensor(dy, device=device)

    def step() -> Any:
        r.grad = b.grad = xt.grad = None
        U = torch.fft.rfft(xt * s, n=n)
        y = torch.fft.irfft(U * torch.fft.rfft(r, n=n), n=n)[:, :d_out] + b
        y.backward(dyt)
        return y, xt.grad, {"r": r.grad, "b": b.grad}
    return step


def torch_linear_step(torch: Any, n: int, dtype: np.dtype, x: np.ndarray, dy: np.ndarray,
                      device: str = "cpu") -> Callable[[], Any]:
    """``torch.nn.Linear(n, n)`` forward and backward on ``device``: the dense reference."""
    lin = torch.nn.Linear(n, n, device=device, dtype=getattr(torch, np.dtype(dtype).name))
    xt = torch.tensor(x, device=device, requires_grad=True)
    dyt = torch.tensor(dy, device=device)

    def step() -> None:
        lin.zero_grad(set_to_none=True)
        xt.grad = None
        lin(xt).backward(dyt)
    return step


def _max_rel(a: Any, b: Any) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(1e-30, float(np.max(np.abs(b)))))


def disagreements(result: Dict[str, Any]) -> Dict[str, float]:
    """The circulant implementations of one ``run_config`` result that differ from its
    reference by more than ``AGREEMENT_TOL`` for its dtype (empty: all agree)."""
    tol = AGREEMENT_TOL[result["dtype"]]
    return {k: v for k, v in result[result["agreement_key"]].items() if not v <= tol}   # NaN too


def _reference(result: Dict[str, Any]) -> str:
    return result["agreement_key"][len("max_rel_diff_vs_"):]


def _agreement(steps: Dict[str, Callable[[], Any]], ref: str) -> Dict[str, float]:
    """Largest relative difference of y, dx, dr, db of each circulant step from ``ref``'s."""
    def outputs(name: str) -> List[np.ndarray]:
        y, dx, grads = steps[name]()
        return [v.detach().numpy() if hasattr(v, "detach") else np.asarray(v) for v in (y, dx, grads["r"], grads["b"])]

    want = outputs(ref)
    return {name: max(_max_rel(g, w) for g, w in zip(outputs(name), want))
            for name in steps if name in CIRCULANT and name != ref}


def run_config(dtype: np.dtype, batch: int, n: int, args: argparse.Namespace,
               torch: Any) -> Dict[str, Any]:
    """Build every implementation for one (dtype, batch, n), check they agree, time them."""
    rng = np.random.default_rng(args.seed)
    x = rng.standard_normal((batch, n)).astype(dtype)
    dy = rng.standard_normal((batch, n)).astype(dtype)
    steps: Dict[str, Callable[[], Any]] = {}
    skipped: Dict[str, str] = {}
    bias = rng.standard_normal(n).astype(dtype)                   # non-zero, as in training
    layer = None
    for bk in args.backends:
        backend = get_backend(bk) if bk != "numba" else _numba_backend(args.threads)
        layer = Circulant(n, rng=args.seed, dtype=dtype, backend=backend)
        layer.params["b"][...] = bias
        steps[f"circ-{bk}"] = _minicirc_step(layer, x, dy)
    dense_mb = n * n * dtype.itemsize / 2**20
    too_big = f"skipped: {dense_mb:.0f} MiB of weights > --dense-max-mb {args.dense_max_mb:g}"
    if args.dense:
        if dense_mb > args.dense_max_mb:
            skipped["dense-numpy"] = too_big
        else:
            steps["dense-numpy"] = _minicirc_step(Dense(n, n, rng=args.seed, dtype=dtype), x, dy)
    if torch is not None:
        steps["circ-torch"] = torch_circulant_step(torch, layer, x, dy)
        if args.dense:
            if dense_mb > args.dense_max_mb:
                skipped["linear-torch"] = too_big
            else:
                steps["linear-torch"] = torch_linear_step(torch, n, dtype, x, dy)
    ref = f"circ-{args.backends[0]}"
    agree = _agreement(steps, ref)
    # Two rotations, like with like: the circulant implementations take turns among themselves,
    # then the dense ones. Interleaved with a large matmul, the FFT paths were timed just after
    # BLAS's threads had held both cores (PyTorch's circulant step at batch 128, n 1024 took
    # 1.32 ms in the full rotation and 0.70-0.79 ms among the circulant ones alone).
    # And a pause before each rotation: OpenBLAS's and OpenMP's threads spin for a while after
    # a parallel region, and the group timed next (the next size's FFT paths after a large
    # matmul) would pay for it: 0.80 ms instead of 0.25 at batch 128, n 256, in one full run.
    timed = {}
    for group in ([k for k in steps if k in CIRCULANT], [k for k in steps if k not in CIRCULANT]):
        if group:
            time.sleep(args.settle)
            timed.update(round_robin({k: steps[k] for k in group}, args.repeats * args.per_round,
                                     args.per_round, args.budget))
    steps.clear()
    gc.collect()
    result = {"dtype": dtype.name, "batch": batch, "n": n, "times": timed, "skipped": skipped,
              "max_rel_diff_vs_" + ref: agree, "agreement_key": "max_rel_diff_vs_" + ref}
    result["agrees"] = not disagreements(result)
    return result


def _numba_backend(threads: int) -> Any:
    from minicirc.backends.numba_backend import NumbaBackend

    return NumbaBackend(workers=threads)


# -- reporting ------------------------------------------------------------------------------

def _fmt_ms(v: Optional[float]) -> str:
    if v is None:
        return "-"
    return f"{v:.3g}" if v < 100 else f"{v:.0f}"


def _agreement_cell(r: Dict[str, Any]) -> str:
    diffs = r[r["agreement_key"]]
    if not diffs:
        return "-"
    worst = max(diffs.values(), key=lambda v: v if v == v else math.inf)
    bad = disagreements(r)
    if bad:
        return "**DISAGREES**: " + ", ".join(f"{k} {v:.1e}" for k, v in bad.items())
    return f"{worst:.1e}"


def table(results: List[Dict[str, Any]], impls: List[str]) -> str:
    """A markdown table: median ms per call of each implementation, the ratios, and the largest
    relative difference of the circulant implementations from the reference (``agreement``)."""
    best_circ = [i for i in impls if i in ("circ-numpy", "circ-numba")]
    ratios = [f"{i}/circ-torch" for i in best_circ] if "circ-torch" in impls else []
    ref = _reference(results[0]) if results else "the first backend"
    head = ["dtype", "batch", "n"] + [f"{i} ms" for i in impls] + ratios + [f"agreement (vs {ref})"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        t = {k: v["median_ms"] for k, v in r["times"].items()}
        row = [r["dtype"], str(r["batch"]), str(r["n"])]
        row += ["skipped" if i in r["skipped"] else _fmt_ms(t.get(i)) for i in impls]
        for i in best_circ:
            if "circ-torch" in impls:
                row.append(f"{t[i] / t['circ-torch']:.2f}" if i in t and "circ-torch" in t else "-")
        row.append(_agreement_cell(r))
        lines.append("| " + " | ".join(row) + " |")
    notes = sorted({f"{r['dtype']} n={r['n']}: {k} {v}" for r in results for k, v in r["skipped"].items()})
    return "\n".join(lines + [""] + crossovers(results, impls) + notes)


def crossovers(results: List[Dict[str, Any]], impls: List[str]) -> List[str]:
    """One line per (dtype, batch): from which n the circulant layer beats the dense one."""
    circ = "circ-numba" if "circ-numba" in impls else impls[0]
    out = []
    for dt in sorted({r["dtype"] for r in results}):
        for b in sorted({r["batch"] for r in results}):
            rows = sorted((r for r in results if r["dtype"] == dt and r["batch"] == b
                           and circ in r["times"] and "dense-numpy" in r["times"]), key=lambda r: r["n"])
            if not rows:
                continue
            ns = [r["n"] for r in rows]
            c = [r["times"][circ]["median_ms"] for r in rows]
            d = [r["times"]["dense-numpy"]["median_ms"] for r in rows]
            nx = _crossover(ns, c, d) if len(rows) > 1 else None
            if nx is not None:
                what = f"{circ} beats dense-numpy from n ~ {nx:.0f}"
            elif all(x < y for x, y in zip(c, d)):
                what = f"{circ} beats dense-numpy at every n measured ({ns[0]}..{ns[-1]})"
            elif all(x >= y for x, y in zip(c, d)):
                what = f"dense-numpy beats {circ} at every n measured ({ns[0]}..{ns[-1]})"
            else:
                what = f"{circ} and dense-numpy trade places more than once"
            out.append(f"{dt}, batch {b}: {what}.")
    return out + [""] if out else []


def _crossover(ns: List[int], circ: List[float], dense: List[float]) -> Optional[float]:
    """The n where dense becomes slower than circulant, log-log interpolated; None if no change."""
    d = [math.log(a) - math.log(b) for a, b in zip(dense, circ)]    # > 0: circulant faster
    for i in range(len(d) - 1):
        if d[i] <= 0 < d[i + 1]:
            f = -d[i] / (d[i + 1] - d[i])
            return math.exp(math.log(ns[i]) + f * (math.log(ns[i + 1]) - math.log(ns[i])))
    return None


def plot(results: List[Dict[str, Any]], impls: List[str], path: str) -> None:
    """Log-log time vs n per (dtype, batch), with an n log n slope and the crossover marked."""
    from matplotlib.figure import Figure     # the object API: no global backend, no pyplot state

    dtypes = sorted({r["dtype"] for r in results}, key=lambda d: np.dtype(d).itemsize)
    batches = sorted({r["batch"] for r in results})
    fig = Figure(figsize=(5.5 * len(batches), 4.2 * len(dtypes)))
    axes = fig.subplots(len(dtypes), len(batches), squeeze=False)
    for ax, (dt, b) in zip(axes.flat, [(d, b) for d in dtypes for b in batches]):
        rows = sorted((r for r in results if r["dtype"] == dt and r["batch"] == b), key=lambda r: r["n"])
        for impl in impls:
            pts = [(r["n"], r["times"][impl]["median_ms"]) for r in rows if impl in r["times"]]
            if pts:
                ax.plot(*zip(*pts), marker="o", ls="-" if impl.startswith("circ") else "--", label=impl)
        circ = "circ-numba" if "circ-numba" in impls else impls[0]
        base = [(r["n"], r["times"][circ]["median_ms"]) for r in rows if circ in r["times"]]
        if base:                      # anchored at the largest n, where the transforms dominate
            n1, t1 = base[-1]
            ns = np.array([p[0] for p in base], float)
            ax.plot(ns, t1 * ns * np.log2(np.maximum(ns, 2)) / (n1 * math.log2(max(n1, 2))),
                    color="grey", lw=0.8, ls=":", label="n log n slope")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        both = [r for r in rows if circ in r["times"] and "dense-numpy" in r["times"]]
        if len(both) >= 2:
            nx = _crossover([r["n"] for r in both], [r["times"][circ]["median_ms"] for r in both],
                            [r["times"]["dense-numpy"]["median_ms"] for r in both])
            if nx is not None:
                ax.axvline(nx, color="k", lw=0.8, ls="-.")
                ax.text(nx, 0.98, f" crossover n~{nx:.0f}:\n {circ} faster above", fontsize=7, va="top",
                        transform=ax.get_xaxis_transform())
            else:
                faster = all(r["times"]["dense-numpy"]["median_ms"] > r["times"][circ]["median_ms"] for r in both)
                ax.text(0.02, 0.98, f"{circ} {'faster' if faster else 'slower'} than dense at every n",
                        fontsize=7, va="top", transform=ax.transAxes)
        ax.set_xlabel("n")
        ax.set_ylabel("ms per forward+backward")
        ax.set_title(f"{dt}, batch {b}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


# -- command line -----------------------------------------------------------------------------

def parse_args(argv: Optional[List[str]] = None, prog: str = "python -m benchmarks.layer"
               ) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int_list, default=None,
                   help="layer widths n (default 256,1024,4096,16384)")
    p.add_argument("--batches", type=int_list, default=None, help="batch sizes (default 1,128)")
    p.add_argument("--dtypes", type=lambda t: distinct(t.split(","), "dtype", ("float32", "float64")),
                   default=None, help="float32,float64 (default both)")
    p.add_argument("--backends", type=backend_list, default=list(CPU_BACKENDS),
                   help="minicirc backends to time, the first the reference (default numpy,numba)")
    p.add_argument("--repeats", type=positive_int, default=None, help="rounds of the round-robin (default 20)")
    p.add_argument("--per-round", type=positive_int, default=5, help="timed calls per implementation per round")
    p.add_argument("--budget", type=nonneg_float, default=None,
                   help="seconds of timed calls a slow implementation may take per configuration (default 4)")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="threads for the numba backend, its transforms and torch (default: numba's); "
                        "NumPy's BLAS only through OPENBLAS_NUM_THREADS and the like, set before Python starts")
    p.add_argument("--dense-max-mb", type=nonneg_float, default=1100.0,
                   help="skip dense layers with more MiB of weights (default 1100: n=16384 runs in "
                        "float32, not float64)")
    p.add_argument("--no-dense", dest="dense", action="store_false", help="leave out the dense layers")
    p.add_argument("--no-torch", dest="torch", action="store_false", help="leave out PyTorch")
    p.add_argument("--settle", type=nonneg_float, default=None,
                   help="seconds of pause before each rotation, for the last one's threads to go idle "
                        "(default 0.5, 0 with --quick)")
    p.add_argument("--seed", type=nonneg_int, default=0)
    p.add_argument("--out", default=None, help="directory for layer_bench.{png,json,md}")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: n 256,1024, float32, few repeats (other options still apply)")
    args = p.parse_args(argv)
    quick = args.quick
    args.sizes = args.sizes or ([256, 1024] if quick else [256, 1024, 4096, 16384])
    args.batches = args.batches or [1, 128]
    args.dtypes = [np.dtype(d) for d in (args.dtypes or (["float32"] if quick else ["float32", "float64"]))]
    args.repeats = args.repeats or (3 if quick else 20)
    args.budget = args.budget if args.budget is not None else (0.3 if quick else 4.0)
    args.settle = args.settle if args.settle is not None else (0.0 if quick else 0.5)
    if args.quick:
        args.per_round = min(args.per_round, 3)
    args.parser = p
    return args


def run(argv: Optional[List[str]] = None, prog: str = "python -m benchmarks.layer"
        ) -> List[Dict[str, Any]]:
    """Run the benchmark that ``argv`` describes; print and (with ``--out``) write its report.
    Returns one result per (dtype, batch, n). ``prog`` names the command in usage and errors."""
    args = parse_args(argv, prog)
    args.argv = sys.argv[1:] if argv is None else list(argv)
    import numba

    if args.threads is None:
        args.threads = numba.get_num_threads()
    torch = _torch() if args.torch else None
    try:
        with pinned_threads(args.threads, torch):   # and the caller's counts back afterwards
            return _run(args, torch)
    except TooManyThreads as e:
        args.parser.error(f"--threads: {e}")


def _run(args: argparse.Namespace, torch: Any) -> List[Dict[str, Any]]:
    argv = args.argv
    impls = [f"circ-{b}" for b in args.backends] + (["dense-numpy"] if args.dense else [])
    if torch is not None:
        impls += ["circ-torch"] + (["linear-torch"] if args.dense else [])
    meta = run_meta(argv, torch,
                    timing=f"median of round-robin calls: {args.repeats} rounds x {args.per_round} calls, "
                           f"budget {args.budget:g} s per slow implementation")
    threads = meta["threads"]
    if args.torch and torch is None:
        reference = ", PyTorch not installed (pip install torch): no circ-torch, linear-torch"
    elif torch is None:
        reference = ", PyTorch left out (--no-torch)"
    else:
        reference = f", torch.set_num_threads({args.threads})"
    print(f"minicirc {__version__}: one layer forward+backward, median ms per call. Threads: numba "
          f"kernels and scipy.fft workers {args.threads}" + reference
          + "; circ-numpy is the one-thread reference; dense-numpy uses NumPy's BLAS threads. "
          "circ-torch: torch.fft with autograd backward.", flush=True)
    print(describe_threads(threads), flush=True)
    if args.dense and threads["blas"] != args.threads:
        print(f"note: dense-numpy runs on NumPy's BLAS threads, not --threads {args.threads}; to pin them, "
              f"start Python with OPENBLAS_NUM_THREADS={args.threads} (and OMP_NUM_THREADS, MKL_NUM_THREADS), "
              f"as benchmarks/cpu_all.sh does", flush=True)
    results = []
    for dtype in args.dtypes:
        for batch in args.batches:
            for n in args.sizes:
                r = run_config(dtype, batch, n, args, torch)
                results.append(r)
                t = "  ".join(f"{k} {_fmt_ms(v['median_ms'])}" for k, v in r["times"].items())
                print(f"  {dtype.name} batch {batch} n {n}: {t}", flush=True)
    md = table(results, impls)
    bad = [r for r in results if not r["agrees"]]
    if bad:
        tol = ", ".join(f"{k} {v:g}" for k, v in AGREEMENT_TOL.items())
        md += (f"\n\n**DISAGREES** in {len(bad)} of {len(results)} configurations: y, dx, dr or db differ "
               f"from {_reference(bad[0])}'s by more than the tolerance ({tol}, relative), so those rows "
               f"time implementations that do not compute the same layer.")
    print()
    print(md)
    if args.out:
        write_report(args.out, "layer_bench", "Circulant layer forward+backward, median ms per call",
                     "benchmarks.layer", meta, md, results)
        plot(results, impls, os.path.join(args.out, "layer_bench.png"))
        print(f"\nwrote {args.out}/layer_bench.{{md,json,png}}")
    if bad:
        print(f"\nDISAGREES: {len(bad)} of {len(results)} configurations; see the agreement column",
              file=sys.stderr, flush=True)
    return results


def main(argv: Optional[List[str]] = None, prog: str = "python -m benchmarks.layer") -> int:
    """The command: 0, or 1 when the circulant implementations disagree anywhere."""
    return 0 if all(r["agrees"] for r in run(argv, prog)) else 1


if __name__ == "__main__":
    raise SystemExit(main())
