"""The transforms alone: scipy.fft (what the CPU backends call) against torch.fft, and scipy.fft
with one worker against two.

    python -m benchmarks.fft [--sizes 1024,4096,16384] [--batch 128] [--out DIR]

A circulant layer step is mostly real FFTs (docs/benchmarks.md, "Where the time of a training
step goes"), so these two ratios bound what the layer can gain: how far pocketfft is from
PyTorch's transforms on one thread, and what a second worker buys a batch of ``--batch`` rows.
Each implementation does one ``rfft`` and one ``irfft`` of a float32 batch (batch, n) per
call; they take turns in one run (``benchmarks.timing``), and the table shows medians.
PyTorch runs on one thread (``torch.set_num_threads(1)``, restored at the end).
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import scipy
import scipy.fft

from . import write_report
from .args import int_list
from .timing import round_robin, run_meta


def steps(batch: int, n: int, torch: Any) -> Dict[str, Callable[[], Any]]:
    """One rfft and one irfft of a (batch, n) float32 batch, per implementation."""
    x = np.random.default_rng(n).standard_normal((batch, n)).astype(np.float32)
    out: Dict[str, Callable[[], Any]] = {
        f"scipy-{w}w": (lambda w=w: scipy.fft.irfft(scipy.fft.rfft(x, workers=w), n=n, workers=w))
        for w in (1, 2)
    }
    if torch is not None:
        xt = torch.from_numpy(x)
        out["torch-1t"] = lambda: torch.fft.irfft(torch.fft.rfft(xt), n=n)
    return out


def main(argv: Optional[List[str]] = None) -> List[Dict[str, Any]]:
    p = argparse.ArgumentParser(prog="python -m benchmarks.fft", description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int_list, default=[1024, 4096, 16384], help="transform lengths n")
    p.add_argument("--batch", type=int, default=128, help="rows per transform (default 128)")
    p.add_argument("--calls", type=int, default=200, help="timed calls per implementation at most")
    p.add_argument("--budget", type=float, default=1.0, help="seconds of timed calls per implementation")
    p.add_argument("--no-torch", dest="torch", action="store_false")
    p.add_argument("--out", default=None, help="directory for fft_bench.{md,json}")
    a = p.parse_args(argv)
    if a.batch < 1 or a.calls < 1 or a.budget < 0 or not a.sizes or min(a.sizes) < 1:
        p.error("--batch, --calls and --sizes take positive integers, --budget a number >= 0")
    torch = None
    if a.torch:
        try:
            import torch  # noqa: F811
        except ImportError:
            print("PyTorch is not installed: torch-1t is left out", flush=True)
    threads = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(1)
    # the threads as they are while timing (torch's are given back afterwards)
    meta = run_meta(sys.argv[1:] if argv is None else list(argv), torch,
                    timing="round-robin, 10 calls a turn, medians; rfft + irfft per call, float32; "
                           "torch on 1 thread, scipy.fft with the workers named")
    results = []
    try:
        for n in a.sizes:
            t = round_robin(steps(a.batch, n, torch), a.calls, 10, a.budget, warmup=2)
            results.append({"batch": a.batch, "n": n, "times": t})
            print(f"  n {n}: " + "  ".join(f"{k} {v['median_ms']:.3g} ms" for k, v in t.items()), flush=True)
    finally:
        if torch is not None:
            torch.set_num_threads(threads)
    head = ["batch", "n", "scipy 1 worker ms", "scipy 2 workers ms", "torch 1 thread ms",
            "scipy-1w / torch-1t", "scipy-2w / scipy-1w"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        m = {k: v["median_ms"] for k, v in r["times"].items()}
        cell = (lambda k: f"{m[k]:.3g}" if k in m else "-")
        ratio = (lambda a_, b_: f"{m[a_] / m[b_]:.2f}" if a_ in m and b_ in m else "-")
        lines.append(f"| {r['batch']} | {r['n']} | {cell('scipy-1w')} | {cell('scipy-2w')} | {cell('torch-1t')} | "
                     f"{ratio('scipy-1w', 'torch-1t')} | {ratio('scipy-2w', 'scipy-1w')} |")
    md = "\n".join(lines)
    print()
    print(md)
    if a.out:
        write_report(a.out, "fft_bench", "Real FFT round trip (rfft + irfft), float32, median ms per call",
                     "benchmarks.fft", meta, md, results)
        print(f"\nwrote {a.out}/fft_bench.{{md,json}}")
    return results


if __name__ == "__main__":
    main()
