"""Where the time of the cuda backend's layer step goes: each piece timed on its own.

    python -m benchmarks.gpu_profile --out runs/gpu-profile     # about 30 s on a GPU

For each (batch, n) -- by default (1024, 4096) and (128, 1024), float32 -- every piece is
called many times in a row with one synchronisation at the end, and reported three ways, in
microseconds per call:

- ``host``: host wall time to issue one call (the loop's time before the final sync);
- ``wall``: the loop's time including that sync, per call (host- or GPU-bound, whichever is more);
- ``event``: CUDA events around the whole loop, per call (the stream's span).

``host`` close to ``wall`` and ``event`` means the piece is host-bound. The pieces: each
``CudaBackend`` primitive (rfft, irfft and irfft with ``overwrite=True``, by cuFFT and by the
own FFT; cmul, cmul_conj, cmul_conj_sum, the fused cmul_conj_and_sum, sign_flip, all_finite
and the old isfinite().all()), a trivial Numba kernel launched (a) on ``cuda.as_cuda_array(sync=False)``
views, (b) on the CuPy arrays themselves (Numba then synchronises on their stream), (c) through
``kernels.launch``, the backend's own path; the layer's forward and backward, separately and
together, per FFT; the same step in torch.fft. Every measurement is guarded: a failure is
reported in the table, never a crash.
"""
from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import sys
import time
import traceback
from typing import Any, Callable, Dict, List, Optional

import numpy as np


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu_profile",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", default="1024x4096,128x1024", help="batch x n pairs (default 1024x4096,128x1024)")
    p.add_argument("--budget", type=float, default=0.15, help="seconds of calls per piece (default 0.15)")
    p.add_argument("--min-calls", type=int, default=5)
    p.add_argument("--max-calls", type=int, default=300)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--no-torch", dest="torch", action="store_false")
    p.add_argument("--out", default=None, help="directory for gpu_profile.{md,json}")
    args = p.parse_args(argv)
    args.configs = [tuple(int(v) for v in c.split("x")) for c in args.configs.split(",") if c]
    return args


class Timer:
    """Times ``fn`` with the library's synchronize and events (CuPy's or torch's)."""

    def __init__(self, args: argparse.Namespace, sync: Callable[[], None], event: Callable[[], Any],
                 elapsed_ms: Callable[[Any, Any], float]) -> None:
        self.args, self.sync, self.event, self.elapsed_ms = args, sync, event, elapsed_ms

    def __call__(self, fn: Callable[[], Any]) -> Dict[str, float]:
        for _ in range(self.args.warmup):
            fn()
        self.sync()
        t0 = time.perf_counter()
        fn()
        self.sync()
        one = time.perf_counter() - t0
        calls = int(min(self.args.max_calls, max(self.args.min_calls, self.args.budget / max(one, 1e-6))))
        gc.collect()
        gc.disable()
        try:
            start, end = self.event(), self.event()
            self.sync()
            start.record()
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            t1 = time.perf_counter()
            end.record()
            self.sync()
            t2 = time.perf_counter()
        finally:
            gc.enable()
        return {"host_us": 1e6 * (t1 - t0) / calls, "wall_us": 1e6 * (t2 - t0) / calls,
                "event_us": 1e3 * self.elapsed_ms(start, end) / calls, "calls": calls}


@functools.lru_cache(maxsize=None)
def _trivial_kernel() -> Any:
    import numba
    from numba import cuda

    @cuda.jit
    def scale(x, out):
        i = cuda.grid(1)
        if i < x.shape[0]:
            out[i] = x[i] * numba.float32(2)
    return scale


def pieces(batch: int, n: int, cupy: Any, torch: Any) -> Dict[str, Callable[[], Callable[[], Any]]]:
    """name -> a function building the callable to time (built lazily, inside the guard)."""
    from minicirc import Circulant
    from minicirc.backends.cuda import CudaBackend
    from minicirc.backends.cuda.kernels import launch

    rng = np.random.default_rng(0)
    m = n // 2 + 1
    x_h = rng.standard_normal((batch, n)).astype(np.float32)
    dy_h = rng.standard_normal((batch, n)).astype(np.float32)
    bks: Dict[str, Any] = {}

    def bk(fft: str) -> Any:
        if fft not in bks:
            bks[fft] = CudaBackend(fft=fft)
        return bks[fft]

    def spectra(shape: Any) -> Any:
        return cupy.asarray((rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64))

    def prim(name: str, fft: str = "cufft") -> Callable[[], Callable[[], Any]]:
        def build() -> Callable[[], Any]:
            b = bk(fft)
            x, s = cupy.asarray(x_h), cupy.asarray(np.sign(x_h[0]))
            A, B, R = spectra((batch, m)), spectra((batch, m)), spectra(m)
            calls = {"rfft": lambda: b.rfft(x, n), "irfft": lambda: b.irfft(A, n),
                     # A becomes scratch: later calls transform garbage, which takes as long
                     "irfft overwrite=True": lambda: b.irfft(A, n, overwrite=True),
                     "cmul": lambda: b.cmul(A, R), "cmul_conj": lambda: b.cmul_conj(R, B),
                     "cmul_conj_sum": lambda: b.cmul_conj_sum(A, B),
                     "cmul_conj_and_sum": lambda: b.cmul_conj_and_sum(R, A, B),
                     "sign_flip": lambda: b.sign_flip(x, s), "sign_flip (cropped view)":
                         lambda: b.sign_flip(x[:, : n - 1], s[: n - 1]),
                     "all_finite": lambda: b.all_finite(x),
                     "isfinite().all() (old all_finite)": lambda: bool(cupy.isfinite(x).all())}
            return calls[name]
        return build

    def trivial(how: str) -> Callable[[], Callable[[], Any]]:
        def build() -> Callable[[], Any]:
            from numba import cuda

            k = _trivial_kernel()
            x = cupy.arange(1024, dtype=cupy.float32)
            out = cupy.empty_like(x)
            if how == "a":
                return lambda: k[4, 256, 0](cuda.as_cuda_array(x, sync=False), cuda.as_cuda_array(out, sync=False))
            if how == "b":
                return lambda: k[4, 256, 0](x, out)
            return lambda: launch(k, (4, 1, 1), (256, 1, 1), 0, 0, x, out)
        return build

    layers: Dict[str, Any] = {}

    def layer(fft: str) -> Any:
        if fft not in layers:
            lay = Circulant(n, rng=0, dtype=np.float32, backend=bk(fft))
            lay.params["b"] = cupy.asarray(rng.standard_normal(n).astype(np.float32))
            layers[fft] = (lay, cupy.asarray(x_h), cupy.asarray(dy_h))
        return layers[fft]

    def step(fft: str, what: str) -> Callable[[], Callable[[], Any]]:
        def build() -> Callable[[], Any]:
            lay, x, dy = layer(fft)
            lay.forward(x)
            if what == "forward":
                return lambda: lay.forward(x)
            if what == "backward":
                return lambda: lay.backward(dy)
            return lambda: (lay.forward(x), lay.backward(dy))
        return build

    out: Dict[str, Callable[[], Callable[[], Any]]] = {}
    for name in ("all_finite", "isfinite().all() (old all_finite)", "sign_flip", "sign_flip (cropped view)",
                 "cmul", "cmul_conj", "cmul_conj_sum", "cmul_conj_and_sum"):
        out[f"prim {name}"] = prim(name)
    for fft in ("cufft", "own"):
        for name in ("rfft", "irfft", "irfft overwrite=True"):
            out[f"prim {name} [{fft}]"] = prim(name, fft)
    out["trivial kernel (a) dispatcher on as_cuda_array views"] = trivial("a")
    out["trivial kernel (b) dispatcher on CuPy arrays"] = trivial("b")
    out["trivial kernel (c) kernels.launch, the backend's path"] = trivial("c")
    for fft in ("cufft", "own"):
        for what in ("forward", "backward", "forward+backward"):
            out[f"layer {what} [{fft}]"] = step(fft, what)
    if torch is not None:
        def torch_step() -> Callable[[], Any]:
            from .layer import torch_circulant_step

            lay, _, _ = layer("cufft")
            return torch_circulant_step(torch, lay, x_h, dy_h, device="cuda")
        out["torch forward+backward"] = torch_step
    return out


def run(args: argparse.Namespace) -> Dict[str, Any]:
    from minicirc.backends.cuda import CudaBackend

    CudaBackend()                                 # a clear RuntimeError without a GPU
    import cupy

    torch = None
    if args.torch:
        try:
            import torch as _torch

            torch = _torch if _torch.cuda.is_available() else None
        except Exception as e:
            print(f"torch not usable: {e}", flush=True)
    cupy_timer = Timer(args, lambda: cupy.cuda.get_current_stream().synchronize(), cupy.cuda.Event,
                       cupy.cuda.get_elapsed_time)
    torch_timer = None
    if torch is not None:
        torch_timer = Timer(args, torch.cuda.synchronize, lambda: torch.cuda.Event(enable_timing=True),
                            lambda s, e: s.elapsed_time(e))
    meta: Dict[str, Any] = {}
    try:
        from .gpu import environment

        meta = environment(cupy, torch)
    except Exception as e:
        meta = {"environment_error": f"{type(e).__name__}: {e}"}
    results = []
    for batch, n in args.configs:
        try:
            todo = pieces(batch, n, cupy, torch)
        except Exception as e:
            results.append({"batch": batch, "n": n, "piece": "(setup)", "error": f"{type(e).__name__}: {e}"})
            continue
        for name, build in todo.items():
            row: Dict[str, Any] = {"batch": batch, "n": n, "piece": name}
            t0 = time.perf_counter()
            try:
                fn = build()
                timer = torch_timer if name.startswith("torch") else cupy_timer
                row.update(timer(fn))
            except Exception as e:
                row["error"] = f"{type(e).__name__}: {e}"
                row["trace"] = traceback.format_exc(limit=4)[-1500:]
                try:
                    cupy.cuda.get_current_stream().synchronize()
                except Exception:
                    pass
            row["secs"] = round(time.perf_counter() - t0, 2)
            results.append(row)
            print(_line(row), flush=True)
        gc.collect()
        cupy.get_default_memory_pool().free_all_blocks()
    return {"meta": meta, "results": results}


def _fmt(v: Optional[float]) -> str:
    return "-" if v is None else f"{v:.1f}" if v < 1000 else f"{v:.0f}"


def _line(r: Dict[str, Any]) -> str:
    if "error" in r:
        return f"  {r['batch']}x{r['n']} {r['piece']}: ERROR {r['error']}"
    return (f"  {r['batch']}x{r['n']} {r['piece']}: host {_fmt(r['host_us'])} us  wall {_fmt(r['wall_us'])} us"
            f"  event {_fmt(r['event_us'])} us  ({r['calls']} calls)")


def table(report: Dict[str, Any]) -> str:
    lines = ["| batch | n | piece | host us/call | wall us/call | event us/call | calls |",
             "|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        if "error" in r:
            err = r["error"].replace("|", "/").replace("\n", " ")[:200]
            lines.append(f"| {r['batch']} | {r['n']} | {r['piece']} | error: {err} | | | |")
        else:
            lines.append(f"| {r['batch']} | {r['n']} | {r['piece']} | {_fmt(r['host_us'])} | {_fmt(r['wall_us'])} "
                         f"| {_fmt(r['event_us'])} | {r['calls']} |")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    args = parse_args(argv)
    t0 = time.perf_counter()
    print("GPU profile: microseconds per call of each piece (host = issue time, wall = incl. final sync, "
          "event = CUDA events over the loop)", flush=True)
    report = run(args)
    report["meta"]["argv"] = sys.argv[1:] if argv is None else list(argv)
    report["meta"]["seconds"] = round(time.perf_counter() - t0, 1)
    md = table(report)
    print()
    print(md)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "gpu_profile.json"), "w") as f:
            json.dump(report, f, indent=1, default=str)
        with open(os.path.join(args.out, "gpu_profile.md"), "w") as f:
            f.write(f"# cuda backend profile on {report['meta'].get('device', '?')}, float32\n\n"
                    f"{json.dumps({k: v for k, v in report['meta'].items() if k != 'argv'}, default=str)}\n\n{md}\n")
        print(f"wrote {args.out}/gpu_profile.{{md,json}}")
    print(f"total {time.perf_counter() - t0:.0f} s")
    return report


if __name__ == "__main__":
    main()
