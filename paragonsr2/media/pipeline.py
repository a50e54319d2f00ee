"""The one frame pipeline: read in a thread, work in the caller's thread, write in a thread, bounded queues.

Decoding, the network and encoding overlap, and memory holds at most ``2 * depth + 3`` items whatever the
stream's length. The caller's thread runs ``work`` so that Ctrl-C (KeyboardInterrupt) and cancel callbacks
land where the network runs; both threads stop within one item and are joined before this returns.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable

_END = object()
_POLL_S = 0.1


class SourceStopped(Exception):
    """The source raised after ``done`` items; every item before it went through ``work`` and ``sink``."""

    def __init__(self, done: int, error: BaseException) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.done, self.error = done, error


class _Pipeline:
    def __init__(self, source: Iterable, sink: Callable, depth: int) -> None:
        self.source, self.sink = source, sink
        self.stop = threading.Event()
        self.inbox: queue.Queue = queue.Queue(depth)
        self.outbox: queue.Queue = queue.Queue(depth)
        self.errors: dict[str, BaseException] = {}
        self.done = 0

    def put(self, box: queue.Queue, item) -> bool:
        """Blocks until there is room; False once the pipeline is stopping (or the sink failed)."""
        while not self.stop.is_set() and "sink" not in self.errors:
            try:
                box.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def get(self, box: queue.Queue):
        """The next item, or _END once the pipeline is stopping (or the sink failed)."""
        while not self.stop.is_set() and "sink" not in self.errors:
            try:
                return box.get(timeout=_POLL_S)
            except queue.Empty:
                continue
        return _END

    def read(self) -> None:
        try:
            for item in self.source:
                if not self.put(self.inbox, item):
                    return
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            self.errors["source"] = e
        self.put(self.inbox, _END)

    def write(self) -> None:
        try:
            while (item := self.get(self.outbox)) is not _END:
                self.sink(item)
                self.done += 1
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            self.errors["sink"] = e


def run_pipeline(source: Iterable, work: Callable, sink: Callable, depth: int = 4) -> int:
    """``sink(work(item))`` for each item of ``source``, in order; returns the item count.

    An error of the source becomes :class:`SourceStopped` after the items before it were written (a
    truncated file keeps its good frames); an error of ``work`` or ``sink`` stops everything at once.
    """
    p = _Pipeline(source, sink, depth)
    threads = [threading.Thread(target=p.read, name="paragonsr2-read", daemon=True),
               threading.Thread(target=p.write, name="paragonsr2-write", daemon=True)]
    for t in threads:
        t.start()
    try:
        while (item := p.get(p.inbox)) is not _END and p.put(p.outbox, work(item)):
            pass
        p.put(p.outbox, _END)
        threads[1].join()
    finally:
        p.stop.set()
        for t in threads:
            t.join()
    if "sink" in p.errors:
        raise p.errors["sink"]
    if "source" in p.errors:
        raise SourceStopped(p.done, p.errors["source"]) from p.errors["source"]
    return p.done
