"""The frame pipeline: order, bounded memory (items in flight), errors from each stage."""
import threading
import time

import pytest

from paragonsr2.media.pipeline import SourceStopped, run_pipeline


def test_order_and_bounded_items_in_flight():
    alive, peak, lock = [0], [0], threading.Lock()

    def source():
        for i in range(200):
            with lock:
                alive[0] += 1
                peak[0] = max(peak[0], alive[0])
            yield i

    out = []

    def sink(item):
        time.sleep(0.001)  # a slow encoder: the source must wait, not pile up
        out.append(item)
        with lock:
            alive[0] -= 1

    assert run_pipeline(source(), lambda x: x * 2, sink, depth=3) == 200
    assert out == [2 * i for i in range(200)]
    assert peak[0] <= 2 * 3 + 3


def test_source_error_after_good_items_keeps_them():
    def source():
        yield from range(5)
        raise ValueError("bad packet")

    out = []
    with pytest.raises(SourceStopped, match="ValueError: bad packet") as info:
        run_pipeline(source(), lambda x: x, out.append)
    assert out == [0, 1, 2, 3, 4] and info.value.done == 5


@pytest.mark.parametrize("stage", ["work", "sink"])
def test_work_or_sink_error_stops_everything(stage):
    read = []

    def source():
        for i in range(10_000):
            read.append(i)
            yield i

    def fail_at_3(x):
        if x == 3:
            raise KeyboardInterrupt if stage == "work" else OSError("disk full")
        return x

    work, sink = (fail_at_3, lambda x: None) if stage == "work" else (lambda x: x, fail_at_3)
    with pytest.raises(KeyboardInterrupt if stage == "work" else OSError):
        run_pipeline(source(), work, sink, depth=2)
    assert len(read) < 20  # stopped, not drained
    assert not [t for t in threading.enumerate() if t.name.startswith("paragonsr2-")]
