"""The captured training step on a GPU: minicirc eager vs one CUDA graph, against PyTorch eager
and PyTorch with CUDA graphs, and against minicirc's numba backend on the CPU, in one run.

    python -m benchmarks.gpu_graph --out DIR        # both parts, a few minutes
    python -m benchmarks.gpu_graph --quick          # a smoke run

Part 1, the layer: ``minicirc.Circulant(n)`` forward+backward at ``--batch`` x ``--n``
(default 1024 x 4096), float32: ``layer-eager`` (the cuda backend, cuFFT, launched call by
call), ``layer-graph`` (the same calls captured once by ``minicirc.backends.cuda.graph.capture``
and replayed), ``layer-torch`` (``benchmarks.layer.torch_circulant_step``, autograd) and
``layer-graph-torch`` (that step captured by ``torch.cuda.graph`` and replayed). Median ms per
call by CUDA events (``benchmarks.gpu.event_timer``), the four taking turns.

Part 2, one MNIST epoch (60,000 images, batch 128, no evaluation) of the default circulant MLP
at its recipe (``benchmarks.training.TrainingRun``), median seconds of ``--repeats`` epochs each,
taking turns, after a warm-up: ``epoch-eager`` (the cuda backend, ``train_step`` per batch),
``epoch-graph`` (``StepPlan`` + ``GraphStep``: one graph per batch size, replayed), ``epoch-torch``
(the PyTorch twin on the GPU, eager), ``epoch-graph-torch`` (the twin's whole step, AdamW with
``capturable=True`` and a tensor learning rate, captured by ``torch.cuda.graph``; the last,
shorter batch runs eager) and ``epoch-cpu`` (minicirc's numba backend on ``--threads`` threads).
Every GPU epoch ends with a synchronisation, inside its time.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from . import write_report
from .args import nonneg_int, positive_int

LAYER_IMPLS = ("layer-eager", "layer-graph", "layer-torch", "layer-graph-torch")
EPOCH_IMPLS = ("epoch-eager", "epoch-graph", "epoch-torch", "epoch-graph-torch", "epoch-cpu")


# -- part 1: the layer -----------------------------------------------------------------------

def minicirc_layer_graph(cupy: Any, step: Callable[[], Any]) -> Callable[[], None]:
    """``step`` (run once already) captured; the replay is launched on CuPy's current stream,
    where the timer's events are recorded."""
    from minicirc.backends.cuda.graph import capture

    stream = cupy.cuda.Stream(non_blocking=True)
    cupy.cuda.get_current_stream().synchronize()
    graph, pool = capture(step, cupy, stream)

    def replay() -> None:
        graph.launch(cupy.cuda.get_current_stream())
    replay.keep = (graph, pool, stream)          # type: ignore[attr-defined]
    return replay


def torch_graph(torch: Any, step: Callable[[], Any], warmup: int = 3) -> Callable[[], None]:
    """``step`` captured by ``torch.cuda.graph`` after ``warmup`` runs on a side stream (as
    PyTorch's documentation does it); returns its replay."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(warmup):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    return graph.replay


def layer_part(args: argparse.Namespace, cupy: Any, torch: Any) -> Dict[str, Any]:
    from minicirc import Circulant
    from minicirc.backends.cuda import CudaBackend

    from .gpu import _max_rel, event_timer
    from .layer import _minicirc_step, torch_circulant_step
    from .timing import round_robin

    rng = np.random.default_rng(args.seed)
    b, n = args.batch, args.n
    x, dy = (rng.standard_normal((b, n)).astype(np.float32) for _ in range(2))
    bk = CudaBackend()
    layer = Circulant(n, rng=args.seed, backend=bk)
    layer.params["b"] = bk.asarray(rng.standard_normal(n).astype(np.float32))
    eager = _minicirc_step(layer, bk.asarray(x), bk.asarray(dy))
    y0 = cupy.asnumpy(eager()[0])
    dr0 = cupy.asnumpy(layer.grads["r"])
    steps: Dict[str, Callable[[], Any]] = {"layer-eager": eager}
    errors: Dict[str, str] = {}
    graph_agree = None
    try:
        steps["layer-graph"] = minicirc_layer_graph(cupy, eager)
        layer.grads["r"][...] = 0                 # the captured array; the replay must refill it
        steps["layer-graph"]()
        cupy.cuda.get_current_stream().synchronize()
        graph_agree = _max_rel(layer.grads["r"], dr0)
    except Exception as e:                        # report and go on: one broken path must not hide the others
        errors["layer-graph"] = f"{type(e).__name__}: {e}"
        steps.pop("layer-graph", None)
    if torch is not None:
        tstep = torch_circulant_step(torch, layer, x, dy, device="cuda")
        agree = _max_rel(tstep()[0], y0)
        steps["layer-torch"] = tstep
        try:
            steps["layer-graph-torch"] = torch_graph(torch, tstep)
        except Exception as e:
            errors["layer-graph-torch"] = f"{type(e).__name__}: {e}"
    else:
        agree = None
    timed = round_robin(steps, args.max_calls, args.per_round, args.budget, warmup=args.warmup,
                        min_calls=args.min_calls, errors=errors,
                        timers={name: event_timer(cupy, torch, name) for name in steps})
    return {"batch": b, "n": n, "times": timed, "errors": errors, "torch_vs_minicirc_y_max_rel": agree,
            "graph_vs_eager_dr_max_rel": graph_agree}


# -- part 2: the epoch -----------------------------------------------------------------------

class Epochs:
    """One implementation's epochs: ``warm()`` once, then ``epoch()`` -> seconds."""

    def __init__(self, warm: Callable[[], None], epoch: Callable[[], float]) -> None:
        self.warm, self.epoch = warm, epoch


def _sync_time(start: float, cupy: Any = None, torch: Any = None) -> float:
    if cupy is not None:
        cupy.cuda.Device().synchronize()
    if torch is not None:
        torch.cuda.synchronize()
    return time.perf_counter() - start


def _minicirc_run(config: Any, data: Any, warm_steps: int) -> Any:
    """``(run, warm)``: a ``TrainingRun`` and a callable taking its first ``warm_steps`` steps."""
    from minicirc import train_step

    from .training import TrainingRun

    run = TrainingRun(config, data=data)

    def warm() -> None:
        for k, (xb, yb) in enumerate(run.batches):
            if k == warm_steps:
                break
            train_step(run.model, run.loss, run.opt, xb, yb)
    return run, warm


def minicirc_eager(cupy: Any, config: Any, data: Any, warm_steps: int) -> Epochs:
    run, warm = _minicirc_run(config, data, warm_steps)

    def epoch() -> float:
        start = time.perf_counter()
        run.epoch()
        return _sync_time(start, cupy)
    return Epochs(warm, epoch)


def minicirc_graph(cupy: Any, config: Any, data: Any) -> Epochs:
    from minicirc.backends.cuda.graph import GraphStep
    from minicirc.backends.cuda.plan import StepPlan

    from .training import TrainingRun

    run = TrainingRun(config, data=data)
    c = run.config
    g = GraphStep(StepPlan(run.model, run.opt, seed=c.seed, schedule=c.schedule, base_lr=c.lr,
                           total=run.total_steps, warmup=c.warmup))
    losses: List[float] = []

    def epoch() -> float:
        start = time.perf_counter()
        for xb, yb in run.batches:
            g.step(xb, yb)
        loss, _ = g.read_metrics()                # the one host read: waits for the epoch
        seconds = time.perf_counter() - start
        losses.append(loss / len(run.batches))
        return seconds

    def warm() -> None:                           # a whole epoch: captures both batch sizes
        epoch()
        losses.clear()

    ep = Epochs(warm, epoch)
    ep.losses = losses                            # type: ignore[attr-defined]
    return ep


def torch_epochs(torch: Any, config: Any, data: Any, graphed: bool, warm_steps: int) -> Epochs:
    from minicirc.optim import cosine_lr

    from .torch_models import build_torch_mlp
    from .training import TrainingRun

    run = TrainingRun(config, data=data)          # the recipe and architecture, resolved as minicirc's
    c = run.config
    model = build_torch_mlp(run.arch, seed=0).cuda()
    X = torch.as_tensor(data.train[0][: c.train_limit or None]).cuda()
    y = torch.as_tensor(data.train[1][: c.train_limit or None]).long().cuda()
    loss_fn = torch.nn.CrossEntropyLoss()
    lr = torch.tensor(c.lr, device="cuda")
    opt = torch.optim.AdamW(model.parameters(), lr=lr if graphed else c.lr, weight_decay=c.weight_decay,
                            capturable=graphed)
    state = {"step": 0, "epoch": 0}
    total = c.epochs * ((len(X) + c.batch_size - 1) // c.batch_size)

    def eager_step(xb: Any, yb: Any) -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(xb), yb).backward()
        opt.step()

    static_x = torch.zeros((c.batch_size, X.shape[1]), device="cuda")
    static_y = torch.zeros(c.batch_size, dtype=torch.long, device="cuda")
    replay: Dict[str, Callable[[], None]] = {}

    def set_lr() -> None:
        value = cosine_lr(c.lr, state["step"], total, c.warmup)
        if graphed:
            lr.fill_(value)
        else:
            opt.param_groups[0]["lr"] = value

    def epoch_body(limit: Optional[int] = None) -> None:
        perm = torch.randperm(len(X), device="cuda",
                              generator=torch.Generator(device="cuda").manual_seed(state["epoch"]))
        state["epoch"] += 1
        for k, i in enumerate(range(0, len(X), c.batch_size)):
            if limit is not None and k == limit:
                break
            idx = perm[i:i + c.batch_size]
            set_lr()
            if graphed and len(idx) == c.batch_size:
                torch.index_select(X, 0, idx, out=static_x)
                torch.index_select(y, 0, idx, out=static_y)
                replay["step"]()
            else:
                eager_step(X[idx], y[idx])
            state["step"] += 1

    def warm() -> None:
        if graphed:
            static_x.copy_(X[: c.batch_size])
            static_y.copy_(y[: c.batch_size])

            def captured() -> None:
                opt.zero_grad(set_to_none=False)
                loss_fn(model(static_x), static_y).backward()
                opt.step()
            replay["step"] = torch_graph(torch, captured)
        epoch_body(warm_steps)

    def epoch() -> float:
        start = time.perf_counter()
        epoch_body()
        return _sync_time(start, torch=torch)
    return Epochs(warm, epoch)


def cpu_epochs(config: Any, data: Any, warm_steps: int) -> Epochs:
    run, warm = _minicirc_run(config, data, warm_steps)
    return Epochs(warm, run.epoch)


def epoch_part(args: argparse.Namespace, cupy: Any, torch: Any) -> Dict[str, Any]:
    from minicirc.mnist import load_mnist
    from minicirc.mnist.config import TrainConfig

    data = load_mnist()
    common = dict(model="circulant", epochs=10_000, train_limit=args.train_limit)
    gpu = TrainConfig(backend="cuda", **common)
    impls: Dict[str, Callable[[], Epochs]] = {
        "epoch-eager": lambda: minicirc_eager(cupy, gpu, data, args.warm_steps),
        "epoch-graph": lambda: minicirc_graph(cupy, gpu, data),
        "epoch-cpu": lambda: cpu_epochs(TrainConfig(backend="numba", **common), data, args.warm_steps),
    }
    if torch is not None:
        impls["epoch-torch"] = lambda: torch_epochs(torch, gpu, data, False, args.warm_steps)
        impls["epoch-graph-torch"] = lambda: torch_epochs(torch, gpu, data, True, args.warm_steps)
    impls = {k: v for k, v in impls.items() if k in args.impls}
    built: Dict[str, Epochs] = {}
    errors: Dict[str, str] = {}
    warm_s: Dict[str, float] = {}
    for name, make in impls.items():
        try:
            start = time.perf_counter()
            built[name] = make()
            built[name].warm()
            warm_s[name] = _sync_time(start, cupy)
            print(f"  {name}: built and warmed in {warm_s[name]:.1f} s", flush=True)
        except Exception as e:                    # report and go on
            errors[name] = f"{type(e).__name__}: {e}"
            print(f"  {name} failed: {errors[name]}", flush=True)
    times: Dict[str, List[float]] = {k: [] for k in built}
    for rep in range(args.repeats):
        for name, ep in built.items():
            if name in errors:
                continue
            try:
                times[name].append(ep.epoch())
                print(f"  epoch {rep + 1} {name}: {times[name][-1]:.2f} s", flush=True)
            except Exception as e:
                errors[name] = f"{type(e).__name__}: {e}"
    med = {k: statistics.median(v) for k, v in times.items() if v}
    graph_losses = getattr(built.get("epoch-graph"), "losses", None)
    return {"median_s": med, "runs": times, "warm_s": warm_s, "errors": errors,
            "graph_mean_loss_per_epoch": graph_losses, "threads_cpu": args.threads,
            "train_images": args.train_limit or 60000}


# -- report ----------------------------------------------------------------------------------

def report(layer: Optional[Dict[str, Any]], epoch: Optional[Dict[str, Any]]) -> str:
    lines: List[str] = []
    if layer is not None:
        t = {k: v["median_ms"] for k, v in layer["times"].items()}
        lines += [f"Circulant layer forward+backward, batch {layer['batch']}, n = {layer['n']}, float32, "
                  "median ms per call (CUDA events):", "",
                  "| implementation | ms | vs PyTorch eager |", "|---|---:|---:|"]
        for name in LAYER_IMPLS:
            if name in t:
                ratio = f"{t[name] / t['layer-torch']:.2f}" if "layer-torch" in t else "-"
                lines.append(f"| {name} | {t[name]:.3g} | {ratio} |")
            elif name in layer["errors"]:
                lines.append(f"| {name} | error: {layer['errors'][name]} | |")
        lines += ["", f"largest relative difference: PyTorch's y vs minicirc's {layer['torch_vs_minicirc_y_max_rel']}, "
                  f"graph's dr vs eager's {layer['graph_vs_eager_dr_max_rel']}", ""]
    if epoch is not None:
        med = epoch["median_s"]
        lines += [f"One MNIST epoch ({epoch['train_images']} images, batch 128) of the default circulant MLP, "
                  "median seconds:", "",
                  "| implementation | s | vs PyTorch eager | vs minicirc eager |", "|---|---:|---:|---:|"]
        for name in EPOCH_IMPLS:
            if name in med:
                vt = f"{med[name] / med['epoch-torch']:.2f}" if "epoch-torch" in med else "-"
                ve = f"{med[name] / med['epoch-eager']:.2f}" if "epoch-eager" in med else "-"
                lines.append(f"| {name} | {med[name]:.2f} | {vt} | {ve} |")
            elif name in epoch["errors"]:
                lines.append(f"| {name} | error: {epoch['errors'][name]} | | |")
        lines += ["", f"epoch-cpu on {epoch['threads_cpu']} threads; "
                  f"graph mean loss per epoch: {epoch['graph_mean_loss_per_epoch']}"]
    return "\n".join(lines)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu_graph", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parts", default="layer,epoch", help="layer, epoch or both (default)")
    p.add_argument("--impls", default=",".join(LAYER_IMPLS + EPOCH_IMPLS), help="which to run (default all)")
    p.add_argument("--batch", type=positive_int, default=1024, help="layer batch (default 1024)")
    p.add_argument("--n", type=positive_int, default=4096, help="layer width (default 4096)")
    p.add_argument("--warmup", type=nonneg_int, default=3, help="untimed layer calls first (default 3)")
    p.add_argument("--budget", type=float, default=1.0, help="seconds of timed layer calls each (default 1)")
    p.add_argument("--min-calls", type=positive_int, default=20)
    p.add_argument("--max-calls", type=positive_int, default=500)
    p.add_argument("--per-round", type=positive_int, default=20)
    p.add_argument("--repeats", type=positive_int, default=2, help="timed epochs each (default 2)")
    p.add_argument("--warm-steps", type=positive_int, default=20, help="warm-up steps before the epochs "
                   "(the graph run warms with a whole epoch, to capture both batch sizes)")
    p.add_argument("--threads", type=positive_int, default=None, help="CPU threads of epoch-cpu "
                   "(default: all this machine's cores, as Numba takes them)")
    p.add_argument("--train-limit", type=positive_int, default=None, help="train on the first N images only")
    p.add_argument("--no-torch", dest="torch", action="store_false")
    p.add_argument("--seed", type=nonneg_int, default=0)
    p.add_argument("--out", default=None, help="directory for gpu_graph.{md,json}")
    p.add_argument("--quick", action="store_true", help="smoke run: n 1024, batch 128, 3000 images, one epoch")
    args = p.parse_args(argv)
    args.parts = [x for x in args.parts.split(",") if x]
    if set(args.parts) - {"layer", "epoch"}:
        p.error(f"--parts: choose from layer, epoch; got {args.parts}")
    args.impls = [i for i in args.impls.split(",") if i]
    unknown = sorted(set(args.impls) - set(LAYER_IMPLS + EPOCH_IMPLS))
    if unknown:
        p.error(f"unknown --impls {unknown}")
    if args.quick:
        args.batch, args.n, args.budget, args.repeats = 128, 1024, 0.2, 1
        args.train_limit = args.train_limit or 3000
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    from minicirc.backends.cuda import CudaBackend

    CudaBackend()                                 # a clear RuntimeError first if there is no GPU
    import cupy
    import numba

    from .gpu import environment

    torch = None
    if args.torch:
        try:
            import torch  # noqa: F811
        except ImportError:
            print("PyTorch is not installed: its rows are left out", flush=True)
        else:
            if not torch.cuda.is_available():
                print("PyTorch sees no GPU: its rows are left out", flush=True)
                torch = None
    if args.threads is None:
        args.threads = numba.config.NUMBA_NUM_THREADS
    numba.set_num_threads(args.threads)
    env = environment(cupy, torch)
    meta = {**env, "argv": sys.argv[1:] if argv is None else list(argv)}
    print("GPU graph benchmark")
    for k, v in env.items():
        print(f"  {k}: {v}")
    layer = epoch = None
    t0 = time.perf_counter()
    if "layer" in args.parts:
        layer = layer_part(args, cupy, torch)
        print(report(layer, None), flush=True)
    if "epoch" in args.parts:
        epoch = epoch_part(args, cupy, torch)
    md = report(layer, epoch)
    print()
    print(md)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    if args.out:
        write_report(args.out, "gpu_graph", f"Captured training step on {env['device']}", "benchmarks.gpu_graph",
                     meta, md, {"layer": layer, "epoch": epoch})
    return 0


if __name__ == "__main__":
    sys.exit(main())
