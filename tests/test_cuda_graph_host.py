"""GraphStep's orchestration (minicirc.backends.cuda.graph) with a stand-in for CuPy on the CPU.

What a GPU alone can show (that the captured graph computes the step) is tests/test_gpu.py's.
Here a fake CuPy records what GraphStep asks of it, and its "graph" replays the work recorded
during the capture, so the host-side logic is checked: warm-up before the capture and undone
after it, every capture allocation from the graph's own pool, one capture per batch size, the
batch copied into the same buffers at each step, a failed capture closed and its error raised.
"""
from contextlib import contextmanager
from types import SimpleNamespace

import numpy as np
import pytest

from minicirc.backends.cuda.graph import GraphStep


class FakeCupy:
    ndarray = np.ndarray

    def __init__(self, fft_plans=()):
        self.log, self.allocator, self.capturing, self.recorded = [], None, None, []
        fake = self

        class Stream:
            def __init__(self, non_blocking=False):
                self.non_blocking = non_blocking

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def wait_event(self, event):
                pass

            def record(self, event=None):
                return event

            def synchronize(self):
                fake.log.append("synchronize")

            def begin_capture(self):
                fake.log.append("begin_capture")
                fake.capturing, fake.recorded = self, []

            def end_capture(self):
                fake.log.append("end_capture")
                fake.capturing = None
                return Graph(list(fake.recorded))

        class Graph:
            def __init__(self, work):
                self.work = work

            def upload(self, stream):
                fake.log.append("upload")

            def launch(self, stream):
                fake.log.append("launch")
                for w in self.work:
                    w()

        class Event:
            def __init__(self, disable_timing=False):
                pass

            def record(self, stream=None):
                pass

        class MemoryPool:
            def malloc(self, size):
                raise AssertionError("not called by the fake")

        @contextmanager
        def using_allocator(allocator):
            before, fake.allocator = fake.allocator, allocator
            try:
                yield
            finally:
                fake.allocator = before

        default = Stream()
        cache = [(("key", i), SimpleNamespace(plan=p)) for i, p in enumerate(fft_plans)]
        self.cuda = SimpleNamespace(Stream=Stream, Event=Event, MemoryPool=MemoryPool,
                                    using_allocator=using_allocator, get_current_stream=lambda: default)
        self.fft = SimpleNamespace(config=SimpleNamespace(get_plan_cache=lambda: cache))

    def empty(self, shape, dtype):
        return np.full(shape, -1, dtype)


class FakePlan:
    """Records each run; a run under capture is recorded for replay, as a GPU graph would be."""

    def __init__(self, xp, fail_in_capture=False):
        self.xp, self.fail, self.seen = xp, fail_in_capture, []

    def snapshot(self):
        self.xp.log.append("snapshot")
        return {}

    def restore(self, saved):
        self.xp.log.append("restore")

    def run(self, x, t):
        xp = self.xp
        xp.log.append(("run", "capture" if xp.capturing else "eager", xp.allocator))
        if xp.capturing and self.fail:
            raise ZeroDivisionError("boom in the step")
        work = lambda: self.seen.append((x.copy(), t.copy()))   # noqa: E731 reads the buffers at replay
        if xp.capturing:
            xp.recorded.append(work)
        else:
            work()


def batch(b, value):
    return np.full((b, 3), value, np.float32), np.full(b, int(value), np.int64)


def test_first_step_warms_up_restores_captures_then_replays():
    cp = FakeCupy()
    plan = FakePlan(cp)
    g = GraphStep(plan, cupy=cp)
    g.step(*batch(4, 1.0))
    pool = g.graphs[4].pool
    assert cp.log == ["snapshot", ("run", "eager", None), "restore", "synchronize", "begin_capture",
                      ("run", "capture", pool.malloc), "end_capture", "upload", "launch"]
    # the warm-up ran on the batch, then the replay did
    assert [float(x[0, 0]) for x, _ in plan.seen] == [1.0, 1.0]


def test_later_steps_copy_into_the_same_buffers_and_replay_without_capturing():
    cp = FakeCupy()
    plan = FakePlan(cp)
    g = GraphStep(plan, cupy=cp)
    g.step(*batch(4, 1.0))
    buffers = (g.graphs[4].x, g.graphs[4].t)
    del cp.log[:]
    g.step(*batch(4, 2.0))
    g.step(*batch(4, 3.0))
    assert cp.log == ["launch", "launch"]
    assert (g.graphs[4].x, g.graphs[4].t) == buffers
    assert [float(x[0, 0]) for x, _ in plan.seen[-2:]] == [2.0, 3.0]
    assert [int(t[0]) for _, t in plan.seen[-2:]] == [2, 3]


def test_each_batch_size_gets_one_graph_and_pool():
    cp = FakeCupy()
    g = GraphStep(FakePlan(cp), cupy=cp)
    for b in (4, 3, 4, 3):
        g.step(*batch(b, 1.0))
    assert g.batch_sizes == [3, 4]
    assert cp.log.count("begin_capture") == 2
    assert g.graphs[3].pool is not g.graphs[4].pool


def test_a_failed_capture_is_closed_and_its_error_raised():
    cp = FakeCupy()
    g = GraphStep(FakePlan(cp, fail_in_capture=True), cupy=cp)
    with pytest.raises(ZeroDivisionError, match="boom"):
        g.step(*batch(2, 1.0))
    assert cp.log[-1] == "end_capture" and cp.capturing is None and g.graphs == {}
    assert cp.allocator is None                     # the private pool is no longer the allocator


def test_cufft_plans_cached_at_capture_are_held():
    plans = [object(), object()]
    cp = FakeCupy(fft_plans=plans)
    g = GraphStep(FakePlan(cp), cupy=cp)
    g.step(*batch(2, 1.0))
    g.step(*batch(3, 1.0))
    assert g._fft_plans == plans                    # each held once


def test_bad_batches_are_named():
    cp = FakeCupy()
    g = GraphStep(FakePlan(cp), cupy=cp)
    with pytest.raises(TypeError, match="must be CuPy arrays"):
        g.step([[1.0]], np.zeros(1, np.int64))
    with pytest.raises(ValueError, match="integer labels"):
        g.step(np.zeros((2, 3), np.float32), np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="empty batch"):
        g.step(np.zeros((0, 3), np.float32), np.zeros(0, np.int64))
    g.step(*batch(2, 1.0))
    with pytest.raises(ValueError, match="do not match the captured"):
        g.step(np.zeros((2, 5), np.float32), np.zeros(2, np.int64))


def test_a_plan_off_the_gpu_is_refused():
    plan = FakePlan(np)
    with pytest.raises(RuntimeError, match="not on a real GPU"):
        GraphStep(plan, cupy=FakeCupy())
