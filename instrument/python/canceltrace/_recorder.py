"""The recorder: turns task lifecycles and shutdowns into contract spans and hands them to the exporter.

Decides what is worth a span (cancelled, failed, destroyed, or alive at a shutdown), pairs each
`uncancel()` with the cancel request of the same scope, opens and ends shutdowns and runs their sampler
thread (pending counts every 100 ms, gauges, snapshots every second). Where a cancellation was caught
is found by `_catch`, spans are built by `_spans`. Every entry point swallows its own errors: the
telemetry path never throws into the program.
"""

import asyncio
import contextvars
import sys
import threading
import time
import weakref

from . import _otlp
from ._catch import CatchLocator
from ._report import report as _report
from ._shutdown import LoopState, Shutdown, pending_tasks
from ._spans import task_span
from ._threads import start_thread
from ._task import (LIVE_TASKS, Task, TaskRecord, absorber_of, caller_site, hooks, line_of, refresh_watch_new,
                    requester_candidates, scope_token, self_of, user_frames)
from ._task import _TASKGROUP_FILE, _lines, _user_codes

PENDING_SAMPLE_INTERVAL_S = 0.1
SNAPSHOT_INTERVAL_S = 1.0
EXIT_FLUSH_TIMEOUT_S = 1.5
SIGNAL_FLUSH_TIMEOUT_S = 1.0

_time_ns = time.time_ns


def _site_attrs(site):
    filepath, lineno, function = site
    return {"code.filepath": filepath, "code.lineno": lineno, "code.function": function}


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
        self.catch = CatchLocator()
        # weak references to the tasks whose end is awaited for export (each dropped when its span is queued),
        # only where asyncio keeps no set of its live tasks to look them up in at a shutdown (LIVE_TASKS):
        # a weak reference per watched task is one more object for the collector to walk
        self._watched = set() if LIVE_TASKS is None else None
        # one bound method and one empty context for every done callback: add_done_callback would otherwise
        # allocate both per watched task (a copy of the current context is not needed: _on_done reads none)
        self._on_done_cb = self._on_done
        self._done_context = contextvars.Context()
        # a finished task's span is queued as (this bound method, task, record): one tuple per span, where a
        # functools.partial of a fresh bound method would be two objects for the collector to walk
        self._final_span_cb = self._final_span
        self._closed = False
        self._reported_undelivered = False

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
            self._add_done_callback(task, rec)
        return rec

    def _add_done_callback(self, task, rec):
        rec.callback_added = True
        try:
            if self._watched is not None:
                self._watched.add(weakref.ref(task))
            task.add_done_callback(self._on_done_cb, context=self._done_context)
        except Exception as e:
            _report("cannot watch %r: %r" % (task, e))

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
        """A cancel() call: records the request, the caller's site and where the task is suspended.

        Runs for every task of a cancel storm: record(), watch(), caller_site() and _task.is_taskgroup_caller()
        are written out here for their common cases."""
        try:
            if window is not None:
                window.call_soon(self._window_off, task)
            if not result:
                return
            rec = task._ct_rec
            if rec is None:
                rec = task._ct_rec = TaskRecord()
            if not rec.callback_added:
                self._add_done_callback(task, rec)
            rec.cancel_requested = True
            rec.open_cancels += 1
            if hooks.shutdown_active:
                self._canceller_drives(task)
            requesters = requester_candidates(caller)
            group = None
            code = caller.f_code
            if code.co_filename == _TASKGROUP_FILE:
                owner = self_of(caller)
                # the group interrupting its owner (not aborting a child): its cancel is the group's to hand back
                if owner is not None and getattr(owner, "_parent_task", None) is task:
                    rec.group_cancels += 1
                    group = scope_token(owner)
            if id(code) in _user_codes:  # the program's own code called cancel(): the site is its frame
                filepath, function = code.co_filename, code.co_qualname
                lineno = _lines.get((id(code), caller.f_lasti))
                if lineno is None:
                    lineno = line_of(caller)
            else:
                filepath, lineno, function = caller_site(caller)
            # the event is also the open request (one tuple less per cancel for the collector to count)
            event = ("task.cancel_requested", _time_ns(),
                     ("cancel.message", None if msg is None else str(msg), "cancel.count", task.cancelling(),
                      "code.filepath", filepath, "code.lineno", lineno, "code.function", function),
                     requesters, group)
            rec.events += (event,)
            rec.requests += (event,)
            if rec.cancel_frames is None:
                rec.cancel_frames = user_frames(task)
        except Exception as e:
            _report("on_cancel: %r" % (e,))

    def _canceller_drives(self, task):
        """A task that cancels others while its loop shuts down is running that shutdown."""
        loop = task.get_loop()
        canceller = asyncio.current_task(loop)
        if canceller is None or canceller is task:
            return
        st = self.loops.get(loop)
        if st is not None and st.shutdown is not None:
            self.add_driver(st.shutdown, canceller)

    def on_uncancel(self, task, count, caller):
        """An uncancel() call: a scope handing back a cancel it requested itself (an asyncio timeout or
        TaskGroup, an anyio CancelScope, any library's) is a handoff; any other uncancel erases a real cancel."""
        try:
            rec = self.watch(task)
            absorber = absorber_of(caller)
            request = None
            if absorber is not None:
                key = id(absorber)
                for r in rec.requests:
                    if key in r[3]:
                        request = r
                        break
            attrs = {"cancel.count": count, "uncancel.handoff": request is not None}
            if request is not None:
                # the request and the uncancel name the same scope: the judge pairs them by it
                token = scope_token(absorber)
                rec.hand_back(request, token)
                attrs["cancel.scope"] = token
                if request[4] is not None:
                    rec.group_cancels = max(0, rec.group_cancels - 1)
                rec.catch = None
            attrs.update(_site_attrs(caller_site(caller)))
            rec.add_event("task.uncancel", _time_ns(), attrs)
        except Exception as e:
            _report("on_uncancel: %r" % (e,))

    def add_task_event(self, task, name, attrs):
        """Appends an event (cleanup, shield) to an instrumented task's span."""
        if isinstance(task, Task):
            self.watch(task).add_event(name, _time_ns(), attrs)

    def _on_done(self, task):
        try:
            if self.catch.monitor.enabled:
                self.catch.monitor.unwatch(task)
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

    def _window_off(self, task):
        self.catch.close_window(task, task._ct_rec)

    def _export_final(self, task, rec, defer=True):
        if rec.exported_final:
            return
        rec.exported_final = True
        if self._watched is not None:
            self._watched.discard(weakref.ref(task))
        if rec.span_id is None:
            rec.span_id = _otlp.new_span_id()
        if rec.final in ("completed", "failed") and rec.group_cancels > 0:
            # Python 3.11 and 3.12's TaskGroup cancel their parent to interrupt it when a child fails, but skip
            # the matching uncancel() when the parent was already waiting in __aexit__; the group's
            # ExceptionGroup is the outcome of that cancel (the parent may then handle it with except* and
            # return), so record the handoff asyncio left implicit. A task that ended was out of the group.
            for request in [r for r in rec.requests if r[4] is not None]:
                token = request[4]
                rec.hand_back(request, token)
                rec.add_event("task.uncancel", rec.end_ns - 1, (
                    "cancel.count", max(0, task.cancelling() - 1), "uncancel.handoff", True,
                    "uncancel.inferred", True, "cancel.scope", token))
            rec.group_cancels = 0
        if defer:
            # the span is built on the exporter thread: a finished task's state no longer changes
            self.exporter.submit((self._final_span_cb, task, rec))
        else:
            self.exporter.submit(self._final_span(task, rec))

    def _final_span(self, task, rec):
        try:
            return task_span(self.trace_id, task, rec, rec.final, rec.end_ns, False)
        finally:
            rec.cancel_frames = None  # frames hold the task's locals alive: release them now

    def snapshot_task(self, task):
        """Exports a copy of a still-pending task's span, with its current stack."""
        try:
            rec = self.record(task)
            if rec.exported_final:
                return
            if task.done():
                return
            self.exporter.submit(task_span(self.trace_id, task, rec, "pending", _time_ns(), True))
        except Exception as e:
            _report("snapshot: %r" % (e,))

    # ----- shutdowns -----
    def start_shutdown(self, loop, reason, drain_timeout_ms=None, from_signal=False):
        """Opens a shutdown on `loop` (or returns the one already open there). Call from the loop's thread.

        Its drivers are asyncio.run's main task and, unless a signal handler opens it (a signal interrupts
        whatever task runs), the current task."""
        with self._lock:
            st = self.loop_state(loop) if loop is not None else None
            if st is not None and st.shutdown is not None:
                return st.shutdown
            pending = pending_tasks(loop) if loop is not None else set()
            sd = Shutdown(self, loop, reason, drain_timeout_ms)
            if st is not None and st.main is not None:
                self.add_driver(sd, st.main())
            if not from_signal:
                try:
                    self.add_driver(sd, asyncio.current_task(loop) if loop is not None else None)
                except Exception:
                    pass
            if st is not None:
                st.shutdown = sd
            self.shutdowns.append(sd)
            hooks.shutdown_active += 1
            refresh_watch_new()
            for t in pending:
                if isinstance(t, Task):
                    self.watch(t)
            sd.sample()
            self.exporter.submit(sd.span(True), essential=True)
            self._start_sampler()
            return sd

    def add_driver(self, sd, task):
        """Marks a task as driving the shutdown: not counted as pending, judged by its own end."""
        if isinstance(task, Task) and not task.done() and task not in sd.drivers:
            sd.drivers.add(task)
            self.watch(task).driver = True

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
            # the tasks first, the shutdown's final span last: a reader that has it has everything before it
            self._export_ended()
            self._snapshot_pending(sd.loop)
            self.exporter.submit(sd.span(False), essential=True)

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
                self.exporter.submit(sd.span(False), essential=True)
        except Exception as e:
            _report("loop_warning: %r" % (e,))

    def snapshot_all(self, sd):
        """Exports the open shutdown and every pending task of its loop as snapshots."""
        self.exporter.submit(sd.span(True), essential=True)
        self._snapshot_pending(sd.loop)

    def _export_ended(self):
        """Tasks that ended but whose done callback has not run yet (the loop stops here, a signal ends the
        process): their end is exported now rather than lost. Call from the loop's thread."""
        if self._watched is None:
            for t in list(LIVE_TASKS):
                try:
                    rec = t._ct_rec if isinstance(t, Task) else None
                    if rec is not None and rec.callback_added and not rec.exported_final and t.done():
                        self._on_done(t)
                except Exception as e:
                    _report("ended task: %r" % (e,))
            return
        for ref in list(self._watched):
            t = ref()
            if t is None:  # collected before its span was queued (its weak reference was cleared first)
                self._watched.discard(ref)
                continue
            try:
                if t.done():
                    self._on_done(t)
            except Exception as e:
                _report("ended task: %r" % (e,))

    def _snapshot_pending(self, loop):
        if loop is not None:
            for t in pending_tasks(loop):
                if isinstance(t, Task):
                    self.snapshot_task(t)

    def _start_sampler(self):
        if self._sampler is not None and self._sampler.is_alive():
            return
        try:
            # refused at interpreter shutdown (3.12+): the shutdown is still recorded
            self._sampler = start_thread(self._sample_loop, "canceltrace-sampler")
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
                if any(isinstance(t, Task) for t in pending_tasks(loop)):
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
        self.report_undelivered()
        hooks.recorder = None
        if gc_was_enabled:
            gc.enable()

    def report_undelivered(self):
        """One line on stderr when spans could not be delivered: how many, and why. Never raises."""
        try:
            dropped = self.exporter.dropped
            if dropped and not self._reported_undelivered:
                self._reported_undelivered = True
                sys.stderr.write("canceltrace: %d span(s) not delivered: %s\n"
                                 % (dropped, self.exporter.last_error or "unknown reason"))
                sys.stderr.flush()
        except Exception:
            pass
