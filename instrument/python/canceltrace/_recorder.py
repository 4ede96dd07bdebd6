"""The recorder: turns task lifecycles and shutdowns into contract spans and hands them to the exporter.

Decides what is worth a span (cancelled, failed, destroyed, or alive at a shutdown), runs the
shutdown sampler thread (pending counts every 100 ms, gauges, snapshots every second), and locates
where a cancellation was caught. Every entry point swallows its own errors: the telemetry path never
throws into the program.
"""

import asyncio
import functools
import sys
import threading
import time
import traceback
import weakref

from . import _otlp
from ._report import report as _report
from ._task import (Task, TaskRecord, caller_site, coroutine_chain, format_stack, hooks, is_handoff_caller,
                    is_internal_code, is_taskgroup_caller, refresh_watch_new)

PENDING_SAMPLE_INTERVAL_S = 0.1
SNAPSHOT_INTERVAL_S = 1.0
EXIT_FLUSH_TIMEOUT_S = 1.5
# Cancel storms (asyncio.run cancelling thousands of tasks) trace only this many deliveries at once;
# the others fall back to the frame heuristic for their catch site.
MAX_CATCH_WINDOWS = 32
SIGNAL_FLUSH_TIMEOUT_S = 1.0
DESTROYED_MESSAGE = "Task was destroyed but it is pending!"
CANCELLED_ERROR_TYPE = "asyncio.exceptions.CancelledError"

_time_ns = time.time_ns
_CancelledError = asyncio.CancelledError


def _site_attrs(site):
    filepath, lineno, function = site
    return {"code.filepath": filepath, "code.lineno": lineno, "code.function": function}


def _pending_tasks(loop):
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
    """One shutdown span: opened by a signal, the main coroutine ending, a loop closing, or `canceltrace.shutdown()`."""

    def __init__(self, recorder, loop, reason, drain_timeout_ms, drivers):
        self.recorder = recorder
        self.loop_ref = weakref.ref(loop) if loop is not None else None
        self.reason = reason
        self.drain_timeout_ms = drain_timeout_ms
        # The tasks that drive the shutdown (asyncio.run's main task, the task inside
        # canceltrace.shutdown()) are not counted as pending: what must drain falls to 0.
        self.drivers = weakref.WeakSet(drivers)
        self.baseline = 0
        self.span_id = _otlp.new_span_id()
        self.start_ns = _time_ns()
        self.end_ns = None
        self.outcome = None
        self.events = []
        self.last_snapshot = time.monotonic()

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
        return sum(1 for t in _pending_tasks(loop) if t not in drivers)

    def sample(self):
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
            attrs["canceltrace.spans_dropped"] = exporter.dropped
            return _otlp.span(*args)

        return encode


class Recorder:
    """Holds the process's trace, its loops and shutdowns, and the exporter."""

    def __init__(self, exporter, resource, export_all=False):
        self.exporter = exporter
        self.resource = resource
        self.export_all = export_all
        self.trace_id = _otlp.new_trace_id()
        self.loops = weakref.WeakKeyDictionary()
        self.shutdowns = []  # open ones
        self.gauges = {}
        self._sampler = None
        self._lock = threading.RLock()
        self._window_depth = 0
        self._window_depth_scheduled = 0
        self._window_tracing = False
        self._window_state = {}
        self._closed = False

    def reset_after_fork(self, instance_id, pid):
        """In a forked child: a new instance with its own trace; the parent's open shutdowns and
        sampler thread are not the child's."""
        self.resource["service.instance.id"] = instance_id
        self.resource["process.pid"] = pid
        _otlp.reseed()
        self.trace_id = _otlp.new_trace_id()
        self.shutdowns = []
        self._sampler = None
        hooks.shutdown_active = 0
        refresh_watch_new()
        self.exporter.reset_after_fork()

    # ----- loops -----
    def loop_state(self, loop):
        """The state of a loop, created on first use."""
        st = self.loops.get(loop)
        if st is None:
            st = LoopState()
            self.loops[loop] = st
        return st

    # ----- task events (called from Task) -----
    def record(self, task):
        """The task's record, created on first need."""
        rec = task._ct_rec
        if rec is None:
            rec = TaskRecord()
            task._ct_rec = rec
        return rec

    def watch(self, task):
        """Makes sure a task's end is recorded and exported."""
        rec = self.record(task)
        if not rec.callback_added:
            rec.callback_added = True
            try:
                task.add_done_callback(self._on_done)
            except Exception as e:
                _report("cannot watch %r: %r" % (task, e))
        return rec

    def on_created_watched(self, task):
        """A task created during a shutdown, by asyncio.run / Runner, or with export-all on."""
        try:
            if task._ct_main:
                self.loop_state(task.get_loop()).main = weakref.ref(task)
            if hooks.shutdown_active or self.export_all:
                self.watch(task)
        except Exception as e:
            _report("on_created: %r" % (e,))

    def on_cancel(self, task, result, msg, caller, window):
        """A cancel() call: records the request, the caller's site and where the task is suspended."""
        try:
            if window is not None:
                window.call_soon(self._window_off, task)
            if not result:
                return
            rec = self.watch(task)
            rec.cancel_requested = True
            rec.open_cancels += 1
            if is_taskgroup_caller(caller):
                rec.group_cancels += 1
            attrs = {"cancel.message": None if msg is None else str(msg), "cancel.count": task.cancelling()}
            attrs.update(_site_attrs(caller_site(caller)))
            rec.events.append(("task.cancel_requested", _time_ns(), attrs))
            if rec.cancel_frames is None:
                rec.cancel_frames = [(f, f.f_lineno) for f in coroutine_chain(task)
                                     if not is_internal_code(f.f_code)]
        except Exception as e:
            _report("on_cancel: %r" % (e,))

    def on_uncancel(self, task, count, caller):
        """An uncancel() call: asyncio's timeouts and TaskGroups hand a cancel back; anyone else is suspect."""
        try:
            rec = self.watch(task)
            handoff = is_handoff_caller(caller)
            attrs = {"cancel.count": count, "uncancel.handoff": handoff}
            attrs.update(_site_attrs(caller_site(caller)))
            rec.events.append(("task.uncancel", _time_ns(), attrs))
            if handoff:
                rec.open_cancels = max(0, rec.open_cancels - 1)
                if is_taskgroup_caller(caller):
                    rec.group_cancels = max(0, rec.group_cancels - 1)
                rec.catch = None
        except Exception as e:
            _report("on_uncancel: %r" % (e,))

    def add_task_event(self, task, name, attrs):
        """Appends an event (cleanup, shield) to an instrumented task's span."""
        if isinstance(task, Task):
            self.watch(task).events.append((name, _time_ns(), attrs))

    def _on_done(self, task):
        try:
            rec = task._ct_rec
            if rec is None or rec.exported_final:
                return
            rec.end_ns = _time_ns()
            if task.cancelled():
                rec.final = "cancelled"
            elif task._exception is not None:
                rec.final = "failed"
            else:
                rec.final = "completed"
            self._export_final(task, rec)
        except Exception as e:
            _report("on_done: %r" % (e,))

    _on_done._ct_hidden = True  # not shown in the task's repr (see Task._callbacks)

    def on_task_del(self, task):
        """A task is being collected: a pending one is destroyed; a failed one is exported if not yet."""
        rec = task._ct_rec
        if rec is not None and rec.exported_final:
            return
        if not task.done():
            rec = self.record(task)
            rec.final = "destroyed"
        elif task.cancelled():
            if rec is None:
                return
            rec.final = "cancelled"
        elif task._exception is not None:
            rec = self.record(task)
            rec.final = "failed"
        elif rec is not None:
            rec.final = "completed"
        else:
            return
        rec.end_ns = _time_ns()
        self._export_final(task, rec, defer=False)

    # ----- where a cancellation was caught -----
    def open_catch_window(self, task):
        """Before a cancel is delivered: schedules a short trace window around the task's next step.

        The window opens just before the wake-up that the cancel schedules and closes right after it,
        so only that one step runs traced. Skipped when a debugger or coverage tool owns sys.settrace.
        """
        try:
            if task._fut_waiter is None or self._window_depth_scheduled >= MAX_CATCH_WINDOWS:
                return None
            if sys.gettrace() is not None and not self._window_tracing:
                return None
            self._window_depth_scheduled += 1
            loop = task.get_loop()
            loop.call_soon(self._window_on, task)
            return loop
        except Exception:
            return None

    def _window_on(self, task):
        self._window_state[task] = [None, None, None]
        if self._window_depth == 0 and sys.gettrace() is None:
            sys.settrace(self._global_trace)
            self._window_tracing = True
        self._window_depth += 1

    def _window_off(self, task):
        self._window_depth_scheduled = max(0, self._window_depth_scheduled - 1)
        self._window_depth = max(0, self._window_depth - 1)
        if self._window_depth == 0 and self._window_tracing:
            sys.settrace(None)
            self._window_tracing = False
        st = self._window_state.pop(task, None)
        if st is None or st[0] is None:
            return
        rec = task._ct_rec
        if rec is not None and rec.catch is None and not task.cancelled():
            frame, delivered, handler = st
            rec.catch = (frame.f_code.co_filename, handler or delivered, frame.f_code.co_qualname, delivered)

    def _global_trace(self, frame, event, arg):
        try:
            if is_internal_code(frame.f_code):
                return None
            if asyncio.current_task() not in self._window_state:
                return None
            return self._local_trace
        except Exception:
            return None

    def _local_trace(self, frame, event, arg):
        try:
            if event == "exception":
                if issubclass(arg[0], _CancelledError):
                    st = self._window_state.get(asyncio.current_task())
                    if st is not None:
                        st[0] = frame
                        st[1] = frame.f_lineno
                        st[2] = None
            elif event == "line":
                st = self._window_state.get(asyncio.current_task())
                if st is not None and st[0] is frame and st[2] is None:
                    st[2] = frame.f_lineno
        except Exception:
            return None
        return self._local_trace

    def _swallow(self, rec):
        """(site string, stacktrace) of a cancellation that did not end the task, when it can be found."""
        if rec.catch is not None:
            filepath, lineno, function, delivered = rec.catch
        elif rec.cancel_frames:
            frame, at_cancel = rec.cancel_frames[-1]
            for f, line in reversed(rec.cancel_frames):
                if f.f_lineno != line:
                    frame, at_cancel = f, line
                    break
            filepath, lineno, function = frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_qualname
            delivered = at_cancel
        else:
            return None, None
        site = "%s:%s in %s" % (filepath, lineno, function)
        lines = ["Traceback (most recent call last):"]
        for f, line in rec.cancel_frames or []:
            lines.append('  File "%s", line %d, in %s' % (f.f_code.co_filename, line or 0, f.f_code.co_qualname))
        lines.append(CANCELLED_ERROR_TYPE)
        lines.append('caught at: File "%s", line %s, in %s (delivered at line %s)' % (filepath, lineno, function,
                                                                                       delivered))
        return site, "\n".join(lines)

    # ----- spans -----
    def _task_span(self, task, rec, final, end_ns, snapshot):
        if rec.span_id is None:
            rec.span_id = _otlp.new_span_id()
        code = task._ct_code
        try:
            coro = task.get_coro()
            coroutine = getattr(coro, "__qualname__", None) or type(coro).__qualname__
        except Exception:
            coroutine = None
        attrs = {
            "task.kind": "asyncio",
            "task.id": str(task._ct_id),
            "task.name": task.get_name(),
            "task.coroutine": coroutine,
            "task.parent_id": str(task._ct_parent) if task._ct_parent else None,
            "task.group_id": task._ct_group,
            "task.created_at": task._ct_t0,
            "code.filepath": code.co_filename if code is not None else None,
            "code.lineno": task._ct_line if code is not None else None,
            "code.function": code.co_qualname if code is not None else None,
            "task.final_state": final,
            "task.snapshot": True if snapshot else None,
            "task.main": True if task._ct_main else None,
        }
        events = list(rec.events)
        status, message = _otlp.STATUS_UNSET, None
        if final == "failed":
            exc = task._exception
            status, message = _otlp.STATUS_ERROR, "%s: %s" % (type(exc).__name__, exc)
            events.append(("exception", end_ns, {
                "exception.type": "%s.%s" % (type(exc).__module__, type(exc).__qualname__),
                "exception.message": str(exc),
                "exception.stacktrace": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
                "exception.escaped": True,
            }))
        elif rec.cancel_requested and rec.open_cancels > 0 and final in ("completed", "pending"):
            site, stack = self._swallow(rec)
            if site is not None:
                attrs["task.swallow_site"] = site
                events.append(("exception", end_ns, {
                    "exception.type": CANCELLED_ERROR_TYPE,
                    "exception.message": "cancellation caught at %s and not re-raised" % site,
                    "exception.stacktrace": stack,
                    "exception.escaped": False,
                }))
        if snapshot:
            events.append(("task.stack", end_ns, {"task.stack": format_stack(coroutine_chain(task))}))
        return _otlp.span(self.trace_id, rec.span_id, task.get_name(), task._ct_t0, end_ns, attrs, events,
                          status, message)

    def _export_final(self, task, rec, defer=True):
        if rec.exported_final:
            return
        rec.exported_final = True
        if rec.span_id is None:
            rec.span_id = _otlp.new_span_id()
        if rec.final == "failed" and rec.group_cancels > 0 and isinstance(task._exception, BaseExceptionGroup):
            # Python 3.11's TaskGroup cancels its parent to interrupt it when a child fails, but skips the
            # matching uncancel() when the parent was already waiting in __aexit__; the group's
            # ExceptionGroup is the outcome of that cancel, so record the handoff asyncio left implicit.
            for _ in range(rec.group_cancels):
                rec.events.append(("task.uncancel", rec.end_ns - 1, {
                    "cancel.count": max(0, task.cancelling() - 1), "uncancel.handoff": True,
                    "uncancel.inferred": True}))
            rec.open_cancels = max(0, rec.open_cancels - rec.group_cancels)
            rec.group_cancels = 0
        if defer:
            # the span is built on the exporter thread: a finished task's state no longer changes
            self.exporter.submit(functools.partial(self._final_span, task, rec))
        else:
            self.exporter.submit(self._final_span(task, rec))

    def _final_span(self, task, rec):
        try:
            return self._task_span(task, rec, rec.final, rec.end_ns, False)
        finally:
            rec.cancel_frames = None  # frames hold the task's locals alive: release them now

    def snapshot_task(self, task):
        """Exports a copy of a still-pending task's span, with its current stack."""
        try:
            rec = self.record(task)
            if rec.exported_final or task.done():
                return
            self.exporter.submit(self._task_span(task, rec, "pending", _time_ns(), True))
        except Exception as e:
            _report("snapshot: %r" % (e,))

    # ----- shutdowns -----
    def start_shutdown(self, loop, reason, drain_timeout_ms=None):
        """Opens a shutdown on `loop` (or returns the one already open there). Call from the loop's thread."""
        with self._lock:
            st = self.loop_state(loop) if loop is not None else None
            if st is not None and st.shutdown is not None:
                return st.shutdown
            pending = _pending_tasks(loop) if loop is not None else set()
            drivers = set()
            if st is not None and st.main is not None:
                main = st.main()
                if main is not None and not main.done():
                    drivers.add(main)
            try:
                current = asyncio.current_task(loop) if loop is not None else None
            except Exception:
                current = None
            if current is not None and not current.done():
                drivers.add(current)
            sd = Shutdown(self, loop, reason, drain_timeout_ms, drivers)
            if st is not None:
                st.shutdown = sd
            self.shutdowns.append(sd)
            hooks.shutdown_active += 1
            refresh_watch_new()
            for t in pending:
                if isinstance(t, Task):
                    self.watch(t)
            sd.sample()
            self.exporter.submit(sd.span(True))
            self._start_sampler()
            return sd

    def end_shutdown(self, sd, outcome=None):
        """Closes a shutdown: last samples, outcome, final span; still-pending tasks are snapshotted."""
        with self._lock:
            if sd.end_ns is not None:
                return
            try:
                sd.sample()
                pending = sd.pending_count()
                if pending <= sd.baseline:
                    sd.event("shutdown.drained", {"tasks.pending.count": pending})
                if outcome is None:
                    elapsed_ms = (_time_ns() - sd.start_ns) / 1e6
                    if pending <= sd.baseline:
                        outcome = "clean"
                    elif sd.drain_timeout_ms is not None and elapsed_ms >= sd.drain_timeout_ms:
                        outcome = "timeout"
                    else:
                        outcome = "survivors"
                sd.outcome = outcome
                sd.end_ns = _time_ns()
            finally:
                if sd in self.shutdowns:
                    self.shutdowns.remove(sd)
                    hooks.shutdown_active = max(0, hooks.shutdown_active - 1)
                    refresh_watch_new()
                loop = sd.loop
                if loop is not None:
                    st = self.loop_state(loop)
                    if st.shutdown is sd:
                        st.shutdown = None
                    st.last_shutdown = sd
            self.exporter.submit(sd.span(False))
            self._snapshot_pending(sd.loop)

    def loop_warning(self, st, message):
        """A loop warning ("Task was destroyed but it is pending!") lands on that loop's open or last shutdown.

        Takes the LoopState, not the loop: the warning often comes while the loop itself is being collected.
        """
        try:
            sd = None
            if st is not None:
                sd = st.shutdown or st.last_shutdown
            if sd is None and self.shutdowns:
                sd = self.shutdowns[-1]
            if sd is None:
                return
            sd.event("loop.warning", {"message": message})
            if sd.end_ns is not None:
                self.exporter.submit(sd.span(False))
        except Exception as e:
            _report("loop_warning: %r" % (e,))

    def snapshot_all(self, sd):
        """Exports the open shutdown and every pending task of its loop as snapshots."""
        self.exporter.submit(sd.span(True))
        self._snapshot_pending(sd.loop)

    def _snapshot_pending(self, loop):
        if loop is not None:
            for t in _pending_tasks(loop):
                if isinstance(t, Task):
                    self.snapshot_task(t)

    def _start_sampler(self):
        if self._sampler is not None and self._sampler.is_alive():
            return
        try:
            sampler = threading.Thread(target=self._sample_loop, name="canceltrace-sampler", daemon=True)
            sampler.start()  # refused at interpreter shutdown (3.12+): the shutdown is still recorded
            self._sampler = sampler
        except RuntimeError as e:
            _report("sampler: %r" % (e,))

    def _sample_loop(self):
        while True:
            time.sleep(PENDING_SAMPLE_INTERVAL_S)
            with self._lock:
                open_now = list(self.shutdowns)
            if not open_now:
                return
            for sd in open_now:
                try:
                    if sd.end_ns is not None:
                        continue
                    sd.sample()
                    now = time.monotonic()
                    if now - sd.last_snapshot >= SNAPSHOT_INTERVAL_S:
                        sd.last_snapshot = now
                        self.snapshot_all(sd)
                except Exception as e:
                    _report("sampler: %r" % (e,))

    # ----- process end -----
    def _exit_unclosed_loops(self):
        """A loop the program never closed (new_event_loop + run_until_complete, then exit) still holds
        its pending tasks at exit; they die unseen with the interpreter. Close them out as a
        `process_exit` shutdown so they are exported (as snapshots: orphans or survivors)."""
        try:
            loops = list(self.loops.keys())
        except Exception:
            return
        for loop in loops:
            try:
                if loop.is_closed() or self.loops[loop].shutdown is not None:
                    continue
                if any(isinstance(t, Task) for t in _pending_tasks(loop)):
                    self.end_shutdown(self.start_shutdown(loop, "process_exit"))
            except Exception as e:
                _report("at_exit loop: %r" % (e,))

    def at_exit(self, timeout=EXIT_FLUSH_TIMEOUT_S):
        """Ends open shutdowns, snapshots survivors and flushes, all within a bounded time."""
        if self._closed:
            return
        import gc

        # Our own allocations here must not trigger a collection the program would not have had
        # (it would surface "Task was destroyed" lines that a plain run never prints).
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            for sd in list(self.shutdowns):
                self.end_shutdown(sd)
        except Exception as e:
            _report("at_exit: %r" % (e,))
        self._exit_unclosed_loops()
        self._closed = True
        self.exporter.close(timeout)
        hooks.recorder = None
        if gc_was_enabled:
            gc.enable()
