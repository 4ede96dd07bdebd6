"""One shutdown of one event loop: its span, its samples and the tasks that drive it.

A shutdown is opened by a signal (however the program handles it), the main coroutine ending, a loop
closing, or `canceltrace.shutdown()`; the recorder opens and ends it, the sampler thread samples it.
"""

import asyncio
import time
import weakref

from . import _otlp
from ._report import report as _report

_time_ns = time.time_ns


def pending_tasks(loop):
    """The loop's pending tasks (an empty set when they cannot be read)."""
    try:
        return asyncio.all_tasks(loop)
    except Exception:
        return set()


class LoopState:
    """What the recorder knows of one event loop."""

    def __init__(self):
        self.main = None  # weakref to the asyncio.run / Runner main task
        self.shutdown = None  # the open Shutdown
        self.last_shutdown = None


class Shutdown:
    """One shutdown span and what it has sampled so far."""

    def __init__(self, recorder, loop, reason, drain_timeout_ms):
        self.recorder = recorder
        self.loop_ref = weakref.ref(loop) if loop is not None else None
        self.reason = reason
        self.drain_timeout_ms = drain_timeout_ms
        # The tasks that drive the shutdown (asyncio.run's main task, the task inside canceltrace.shutdown(),
        # a task that cancels others during it) are not counted as pending: what must drain falls to 0.
        self.drivers = weakref.WeakSet()
        self.baseline = 0
        self.span_id = _otlp.new_span_id()
        self.start_ns = _time_ns()
        self.end_ns = None
        self.outcome = None
        self.events = []
        self.last_snapshot = time.monotonic()
        self.sent_final = False

    @property
    def loop(self):
        return self.loop_ref() if self.loop_ref is not None else None

    def event(self, name, attrs):
        self.events.append((name, _time_ns(), attrs))

    def pending_count(self):
        """Pending tasks of the loop, not counting the shutdown's drivers."""
        loop = self.loop
        if loop is None:
            return 0
        drivers = self.drivers
        return sum(1 for t in pending_tasks(loop) if t not in drivers)

    def sample(self):
        """A `tasks.pending` sample and one `resource.gauge` sample per registered gauge."""
        self.event("tasks.pending", {"tasks.pending.count": self.pending_count()})
        for name, (fn, baseline) in list(self.recorder.gauges.items()):
            try:
                value = fn()
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    value = float(value)
            except Exception as e:
                _report("gauge %s failed: %r" % (name, e))
                continue
            self.event("resource.gauge", {"resource.name": name, "resource.value": value,
                                          "resource.baseline": baseline})

    def span(self, snapshot):
        """A deferred encoder of the shutdown span (open: a snapshot; else the final record)."""
        attrs = {
            "shutdown.reason": self.reason,
            "shutdown.drain_timeout_ms": self.drain_timeout_ms,
            "shutdown.pending_baseline": self.baseline,
            "shutdown.outcome": None if snapshot else self.outcome,
            "task.snapshot": True if snapshot else None,
        }
        end = _time_ns() if snapshot else self.end_ns
        args = (self.recorder.trace_id, self.span_id, "shutdown", self.start_ns, end, attrs, list(self.events))
        exporter = self.recorder.exporter

        def encode():
            # encoded on the exporter thread, so the drop count includes the batches that failed before it
            dropped = exporter.dropped
            attrs["canceltrace.spans_dropped"] = dropped
            if dropped and not snapshot:
                attrs["shutdown.incomplete"] = True
            return _otlp.span(*args)

        return encode
