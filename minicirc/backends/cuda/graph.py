"""A training step captured once as a CUDA graph and replayed per batch (CuPy's public graph API).

``GraphStep`` wraps a ``plan.StepPlan``. For each batch size it meets it:

1. copies the batch into fixed input and label buffers it owns (the graph reads those
   addresses at every replay);
2. runs one step uncaptured on its own non-blocking stream (Numba compiles its kernels,
   cuFFT makes its plans: neither may happen inside a capture), then restores every array
   the step changed, so the warm-up leaves no trace in the training;
3. captures ``plan.run`` on that stream (``Stream.begin_capture``/``end_capture``; Numba
   launches there through ``cuda.external_stream``, as the backend always does) with every
   allocation served by a ``cupy.cuda.MemoryPool`` of its own. The graph reads and writes the
   temporaries it allocated at their captured addresses; the pool is used for nothing else and
   lives as long as the graph, so no replay writes into memory CuPy has handed to another
   array. The cuFFT plans then in CuPy's plan cache are held too, so an eviction cannot free
   a work area the graph uses.

A step is then: wait for the caller's stream (an event, no host wait), two device-to-device
copies into the buffers, one graph launch. The step count, learning rate, loss and error
accumulators are the plan's device scalars; ``read_metrics`` is the one host read, once an
epoch. The last, shorter batch of an epoch gets a graph of its own (captured once).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Tuple

from .plan import StepPlan


@dataclass
class Captured:
    """One batch size's graph and what it must outlive: its pool, its input buffers."""
    graph: Any
    pool: Any
    x: Any
    t: Any


def capture(run: Callable[[], Any], cupy: Any, stream: Any) -> Tuple[Any, Any]:
    """``(graph, pool)``: the work ``run()`` queues, captured on ``stream`` (not the legacy
    default stream) with every allocation from ``pool``, a ``MemoryPool`` of its own that the
    caller keeps as long as the graph. ``run`` must have run once uncaptured (compiled kernels,
    cuFFT plans) and must not read from the device. A failed capture is closed, its error raised.
    """
    pool = cupy.cuda.MemoryPool()
    with stream, cupy.cuda.using_allocator(pool.malloc):
        stream.begin_capture()
        try:
            run()
        except BaseException:
            try:
                stream.end_capture()
            except Exception:                     # the capture is invalid by now; the first error is the one to see
                pass
            raise
        graph = stream.end_capture()
    graph.upload(stream)
    return graph, pool


class GraphStep:
    """Replays ``plan``'s step as a CUDA graph; ``step(x, t)`` per batch, nothing read back."""

    def __init__(self, plan: StepPlan, *, cupy: Any = None) -> None:
        # ``cupy``: the module to capture with, CuPy itself unless a test hands a stand-in.
        if cupy is None:
            try:
                import cupy
            except ImportError as e:
                raise RuntimeError(f"GraphStep: CuPy is not importable ({e}); a captured step needs a GPU") from e
        if plan.xp is not cupy:
            raise RuntimeError("GraphStep: the plan's model is not on a real GPU (under Numba's simulator "
                               "run StepPlan uncaptured)")
        self.plan, self.cupy = plan, cupy
        self.stream = cupy.cuda.Stream(non_blocking=True)
        self.graphs: Dict[int, Captured] = {}
        self._fft_plans: List[Any] = []
        self._ready = cupy.cuda.Event(disable_timing=True)

    def _after_caller(self) -> None:
        """Order the graph's stream after the work queued so far on the caller's (an event, no host wait)."""
        self._ready.record(self.cupy.cuda.get_current_stream())
        self.stream.wait_event(self._ready)

    def _check(self, x: Any, t: Any) -> Tuple[int, ...]:
        cp = self.cupy
        if not isinstance(x, cp.ndarray) or not isinstance(t, cp.ndarray):
            raise TypeError(f"GraphStep.step: x and t must be CuPy arrays on the GPU, got "
                            f"{type(x).__name__} and {type(t).__name__}")
        if x.ndim < 2 or t.shape != (x.shape[0],) or t.dtype.kind not in "iu" or x.dtype.kind != "f":
            raise ValueError(f"GraphStep.step: expected floating x (batch, ...) and integer labels (batch,), "
                             f"got x {x.dtype} {x.shape} and t {t.dtype} {t.shape}")
        if x.shape[0] == 0:
            raise ValueError("GraphStep.step: empty batch")
        known = next(iter(self.graphs.values()), None)
        if known is not None and (x.shape[1:] != known.x.shape[1:] or x.dtype != known.x.dtype
                                  or t.dtype != known.t.dtype):
            raise ValueError(f"GraphStep.step: x {x.dtype} {x.shape} and t {t.dtype} do not match the captured "
                             f"x {known.x.dtype} (batch, {', '.join(map(str, known.x.shape[1:]))}) and t {known.t.dtype}")
        return x.shape

    def step(self, x: Any, t: Any) -> None:
        """Copy the batch in and replay the step: queued on the graph's stream, no host wait."""
        self._check(x, t)
        cap = self.graphs.get(x.shape[0])
        if cap is None:
            cap = self._capture(x, t)
        caller = self.cupy.cuda.get_current_stream()
        self._after_caller()                  # x and t were made there
        with self.stream:
            cap.x[...] = x
            cap.t[...] = t
            copied = self.stream.record()
            cap.graph.launch(self.stream)
        # x and t belong to the caller's stream, whose pool may hand their memory out again as
        # soon as the caller drops them: that stream's later work waits for the copies (not the step).
        caller.wait_event(copied)

    def eager_step(self, x: Any, t: Any) -> None:
        """The same step uncaptured on the same stream: the graph's twin, for comparisons."""
        self._check(x, t)
        self._after_caller()
        with self.stream:
            self.plan.run(x, t)

    def _capture(self, x: Any, t: Any) -> Captured:
        cp = self.cupy
        self._after_caller()
        with self.stream:
            xb, tb = cp.empty(x.shape, x.dtype), cp.empty(t.shape, t.dtype)
            xb[...] = x
            tb[...] = t
            saved = self.plan.snapshot()
            self.plan.run(xb, tb)                 # warm-up: kernels compiled, cuFFT plans made
            self.plan.restore(saved)
        self.stream.synchronize()
        del saved
        graph, pool = capture(lambda: self.plan.run(xb, tb), cp, self.stream)
        self._hold_fft_plans()
        cap = Captured(graph, pool, xb, tb)
        self.graphs[x.shape[0]] = cap
        return cap

    def _hold_fft_plans(self) -> None:
        cache = self.cupy.fft.config.get_plan_cache()
        held = {id(p) for p in self._fft_plans}
        self._fft_plans += [node.plan for _, node in cache if id(node.plan) not in held]

    # -- the host's view, once an epoch ------------------------------------------------------
    def synchronize(self) -> None:
        """Make CuPy's current stream wait for the queued steps (no host wait)."""
        self.cupy.cuda.get_current_stream().wait_event(self.stream.record())

    def read_metrics(self) -> Tuple[float, int]:
        """``(sum of step losses, wrong answers)`` since the last read: waits for the steps."""
        self.stream.synchronize()
        with self.stream:
            return self.plan.read_metrics()

    def export(self) -> Any:
        """The optimizer with the plan's state handed back (for a checkpoint): waits for the steps."""
        self.stream.synchronize()
        with self.stream:
            opt = self.plan.export()
        self.stream.synchronize()
        return opt

    @property
    def batch_sizes(self) -> List[int]:
        return sorted(self.graphs)


__all__ = ["Captured", "GraphStep", "capture"]
