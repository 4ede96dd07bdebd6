"""Where a cancellation was caught.

On Python 3.12+, sys.monitoring follows the CancelledError of a cancelled task through every handler
until the task ends (EXCEPTION_HANDLED and PY_UNWIND fire only when exceptions are handled or leave a
frame, so this costs nothing elsewhere): the site is the last handler that caught it, which is where
propagation stopped (a handler that cleaned up and re-raised is followed by the next one, even across
awaits). When the task completes and no Python frame handled the exception last (none saw it, or the
last thing seen is it leaving a Python frame), compiled code absorbed it, and the stack says so. The
site is then the nearest Python frame that called into that code: the caller of a plain function the
exception left, else the innermost frame of the program when the cancel came, suspended in the `await`
of the compiled awaitable (for a coroutine's frame, the frame under it on the stack is not the one
that awaits it when a C awaitable sits between them, so it is not used). A cancel that the program's
own uncancel() took back before delivery is not blamed on anything. On 3.11, a short trace window
around the step that delivers it:

The window traces only the cancelled task's frames, only during the step in which the CancelledError
is thrown into it, and only when no debugger or coverage tool owns `sys.settrace`. Within that step
the exception is followed frame by frame as it propagates: the site is the last frame it reached (the
handler that stopped it, not a handler that cleaned up and re-raised) and the first line that frame
ran after it (the `except` line). When the handler that caught it is still running when the step ends
(it awaits: cleanup before a re-raise), the task's frames stay traced in its next steps (at most
MAX_FOLLOW_STEPS steps and MAX_FOLLOW_S seconds, MAX_CATCH_WINDOWS tasks at once) until that frame
is done: a re-raise caught by another handler moves the site there. When the innermost frame of the
program awaits an object with no Python frame (a C extension's awaitable) and, in the delivering step,
runs on as if its `await` had returned while no frame caught the exception (none saw it, or it left
the frames below that awaitable unhandled), that compiled code absorbed the cancel: the site is that
`await`. When no window saw it, the frames captured at `cancel()` time give a best effort.
"""

import asyncio
import inspect
import linecache
import sys
import weakref

from ._task import attrs_dict, coroutine_chain, is_internal_code

# Cancel storms (asyncio.run cancelling thousands of tasks) trace only this many deliveries at once;
# the others fall back to the frame heuristic for their catch site.
MAX_CATCH_WINDOWS = 32
# 3.11: a handler that caught the cancel and awaits (cleanup before a re-raise) is followed through at
# most this many of its task's steps and this long, MAX_CATCH_WINDOWS tasks at once: the whole thread is
# traced meanwhile, so a cleanup that outlasts this leaves the site at that handler.
MAX_FOLLOW_STEPS = 16
MAX_FOLLOW_S = 2.0
CANCELLED_ERROR_TYPE = "asyncio.exceptions.CancelledError"

_CancelledError = asyncio.CancelledError
_monitoring = getattr(sys, "monitoring", None)
# sys.monitoring tool ids 0-2 and 5 are named for debuggers, coverage, profilers and optimizers
MONITORING_TOOL_ID = 4
ABSORBED_IN_COMPILED_CODE = "absorbed in compiled library code called from here"
# frames that are resumed rather than called: the frame below one on the stack is not always the one
# that awaits it (a C awaitable in between pushes no frame of its own)
_RESUMABLE = inspect.CO_COROUTINE | inspect.CO_ITERABLE_COROUTINE | inspect.CO_ASYNC_GENERATOR | inspect.CO_GENERATOR


def _current_task():
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None


def _handler_line(code, offset):
    """The line of the first instruction of the handler at `offset` that has one (the `except` line)."""
    for start, end, line in code.co_lines():
        if end > offset and line is not None:
            return line
    return None


def absorbed_below(rec, frame=None):
    """Compiled code below the innermost frame of the program at cancel time absorbed the cancel (that
    frame is `frame` when given): the site is that frame's line at cancel time, its `await`."""
    flat = rec.cancel_frames
    if not flat or (frame is not None and flat[-2] is not frame):
        return
    code, line = flat[-2].f_code, flat[-1]
    rec.catch = (code.co_filename, line, code.co_qualname, line, ABSORBED_IN_COMPILED_CODE)


def _uncancelled(rec):
    """True when the program's code called uncancel() (not a scope's handoff): on 3.13 that can take back a
    cancel before it is delivered, and then nothing absorbed it."""
    for event in rec.events:  # (name, time, attrs), a request's with two more fields
        if event[0] == "task.uncancel" and attrs_dict(event[2]).get("uncancel.handoff") is False:
            return True
    return False


class HandlerMonitor:
    """3.12+: the last handler that caught a watched task's CancelledError, via sys.monitoring."""

    def __init__(self):
        self.enabled = False
        self._watched = weakref.WeakSet()
        # watched tasks whose CancelledError a Python frame (the program's or asyncio's) handled last
        self._handled_by_python = weakref.WeakSet()
        if _monitoring is None:
            return
        try:
            _monitoring.use_tool_id(MONITORING_TOOL_ID, "canceltrace")
            _monitoring.register_callback(MONITORING_TOOL_ID, _monitoring.events.EXCEPTION_HANDLED, self._handled)
            _monitoring.register_callback(MONITORING_TOOL_ID, _monitoring.events.PY_UNWIND, self._unwound)
            self.enabled = True
        except Exception:  # the tool id is taken: the trace windows do the job
            self.enabled = False

    def watch(self, task):
        """Follows the task's CancelledError from now until unwatch()."""
        if not self._watched:
            _monitoring.set_events(MONITORING_TOOL_ID,
                                   _monitoring.events.EXCEPTION_HANDLED | _monitoring.events.PY_UNWIND)
        self._watched.add(task)
        self._handled_by_python.discard(task)

    def unwatch(self, task):
        """The task ended: stops following it. When it completed with its cancel open and no Python frame
        handled the CancelledError last, compiled code absorbed it (see absorbed_below)."""
        self._watched.discard(task)
        if not self._watched:
            _monitoring.set_events(MONITORING_TOOL_ID, 0)
        try:
            # cheapest tests first: in a cancel storm most tasks end cancelled (the set forgets them as they go)
            rec = getattr(task, "_ct_rec", None)
            if (rec is not None and rec.catch is None and rec.open_cancels > 0 and task.done()
                    and not task.cancelled() and task._exception is None
                    and task not in self._handled_by_python and not _uncancelled(rec)):
                absorbed_below(rec)
        except Exception:
            pass

    def _record(self, task, site):
        rec = getattr(task, "_ct_rec", None)
        if rec is not None and rec.open_cancels > 0:
            rec.catch = site

    def _handled(self, code, offset, exc):
        try:
            if isinstance(exc, _CancelledError):
                task = _current_task()
                if task is not None and task in self._watched:
                    self._handled_by_python.add(task)
                    if is_internal_code(code):
                        return
                    frame = sys._getframe(1)
                    line = _handler_line(code, offset) or frame.f_lineno
                    self._record(task, (code.co_filename, line, code.co_qualname, frame.f_lineno, None))
        except Exception:
            pass

    def _unwound(self, code, offset, exc):
        try:
            if isinstance(exc, _CancelledError):
                task = _current_task()
                if task is not None and task in self._watched:
                    self._handled_by_python.discard(task)
                    if is_internal_code(code):
                        return
                    if code.co_flags & _RESUMABLE:
                        # who receives it is not known here: a Python frame that catches it says so, and when
                        # none does, the task's end puts the site at the frame that awaited compiled code
                        self._record(task, None)
                        return
                    back = sys._getframe(1).f_back
                    if back is not None and not is_internal_code(back.f_code):
                        # overwritten by the next handler if Python code catches it; else compiled code did
                        self._record(task, (back.f_code.co_filename, back.f_lineno, back.f_code.co_qualname,
                                            back.f_lineno, ABSORBED_IN_COMPILED_CODE))
        except Exception:
            pass


# a window's state, one list per task: the last frame the CancelledError reached, the line it reached it
# at, the first line that frame ran after it (its handler), the frame of the program that awaits compiled
# code (see _awaits_compiled_code), whether that frame ran on without the exception, whether the window
# closed and the handler is being followed, the steps left to follow it, whether a check after the
# current step is scheduled, the timer that ends the following
_FRAME, _DELIVERED, _HANDLER, _ARMED, _RAN, _FOLLOW, _STEPS, _CHECK, _TIMER = range(9)


def _awaits_compiled_code(task):
    """The innermost frame of a suspended task when it is the program's and the object it awaits has no
    Python frame (compiled code, such as a C extension's awaitable), else None."""
    obj = task.get_coro()
    frame = None
    depth = 0
    while obj is not None and depth < 64:
        f = getattr(obj, "cr_frame", None) or getattr(obj, "gi_frame", None) or getattr(obj, "ag_frame", None)
        if f is None:
            break
        frame = f
        obj = getattr(obj, "cr_await", None) or getattr(obj, "gi_yieldfrom", None) or getattr(obj, "ag_await", None)
        depth += 1
    if frame is None or obj is None or depth >= 64 or is_internal_code(frame.f_code):
        return None
    return frame


def _absorbed(st, frame):
    """The frame awaiting compiled code runs on: had the exception reached it, or a frame of the program
    caught it, the trace would have said so. None did: nothing saw it, or it left the last frame that saw
    it (below the compiled code) without a handler."""
    return st[_FRAME] is None or (st[_FRAME] is not frame and st[_HANDLER] is None)


class CatchLocator:
    """Opens and closes the trace windows and turns what they saw into a swallow site."""

    def __init__(self):
        self._depth = 0
        self._scheduled = 0
        self._following = 0
        self._tracing = False
        self._state = {}  # task -> window state (see _FRAME...)
        self.monitor = HandlerMonitor()

    def open_window(self, task):
        """Before a cancel is delivered: opens a trace window around the task's next step.

        When the task waits on a future that is not done, the cancel schedules its wake-up: the window
        opens just before it (call_soon now) and closes right after it. When the step that will throw
        the CancelledError is already queued (the future completed, or the task is ready to run), the
        window opens at once, so that step cannot run before it. Returns the loop to close it on, or None.
        """
        try:
            if self.monitor.enabled:
                self.monitor.watch(task)
                return None
            if self._scheduled >= MAX_CATCH_WINDOWS:
                return None
            if sys.gettrace() is not None and not self._tracing:
                return None
            waiter = task._fut_waiter
            loop = task.get_loop()
            self._scheduled += 1
            if waiter is None or waiter.done():
                self._on(task)
            else:
                loop.call_soon(self._on, task)
            return loop
        except Exception:
            return None

    def close_window(self, task, rec):
        """Closes a task's window (scheduled right after the delivering step) and keeps what it saw."""
        self._scheduled = max(0, self._scheduled - 1)
        self._depth = max(0, self._depth - 1)
        try:
            st = self._state.get(task)
            if st is not None and not st[_FOLLOW]:
                del self._state[task]
                armed = st[_ARMED]
                if armed is not None and armed.f_trace == self._local_trace:
                    armed.f_trace = None
                self._keep_window(task, rec, st)
        except Exception:
            pass
        self._trace_off_when_idle()

    def _keep_window(self, task, rec, st):
        # A cancel that a scope already handed back (uncancel) was the scope's own to absorb: not a catch.
        if rec is None or rec.open_cancels <= 0 or task.cancelled():
            return
        if st[_RAN]:
            # the frame awaiting compiled code ran on as if its await had returned, and no frame of the
            # program caught the exception before: that code absorbed it
            absorbed_below(rec, st[_ARMED])
            return
        frame = st[_FRAME]
        if frame is None:
            return
        rec.catch = (frame.f_code.co_filename, st[_HANDLER] or st[_DELIVERED], frame.f_code.co_qualname,
                     st[_DELIVERED], None)
        # the handler is still running (it awaits): follow it through the task's next steps
        if (st[_HANDLER] is not None and not task.done() and self._following < MAX_CATCH_WINDOWS
                and frame in coroutine_chain(task)):
            st[_FOLLOW] = True
            st[_ARMED] = None  # its trace function is gone (close_window): compiled code is a window's matter
            st[_STEPS] = MAX_FOLLOW_STEPS
            st[_TIMER] = task.get_loop().call_later(MAX_FOLLOW_S, self._unfollow, task)
            self._state[task] = st
            self._following += 1

    def _check_follow(self, task):
        """After a step that ran the followed frame: goes on while it is still running in the task."""
        try:
            st = self._state.get(task)
            if st is None or not st[_FOLLOW]:
                return
            st[_CHECK] = False
            st[_STEPS] -= 1
            rec = task._ct_rec
            if (st[_STEPS] <= 0 or task.done() or rec is None or rec.open_cancels <= 0
                    or st[_FRAME] not in coroutine_chain(task)):
                self._unfollow(task)
        except Exception:
            pass

    def _unfollow(self, task):
        try:
            st = self._state.get(task)
            if st is None or not st[_FOLLOW]:
                return
            del self._state[task]
            self._following = max(0, self._following - 1)
            if st[_TIMER] is not None:
                st[_TIMER].cancel()
            self._trace_off_when_idle()
        except Exception:
            pass

    def _trace_off_when_idle(self):
        if self._depth == 0 and self._following == 0 and self._tracing:
            if sys.gettrace() == self._global_trace:  # left alone if a debugger took it over meanwhile
                sys.settrace(None)
            self._tracing = False

    def _on(self, task):
        old = self._state.get(task)
        if old is not None and old[_FOLLOW]:  # a new cancel while following the last one: a new window
            self._unfollow(task)
        st = self._state[task] = [None, None, None, None, False, False, 0, False, None]
        if not self._tracing and sys.gettrace() is None:
            sys.settrace(self._global_trace)
            self._tracing = True
        self._depth += 1
        if self._tracing and sys.gettrace() == self._global_trace and asyncio.current_task() is not task:
            # A frame resumed by a value after a throw (compiled code below it returned instead of raising)
            # gets no "call" event on 3.11: its own trace function sees it run on.
            armed = _awaits_compiled_code(task)
            if armed is not None:
                armed.f_trace = self._local_trace
                st[_ARMED] = armed

    def _global_trace(self, frame, event, arg):
        try:
            if is_internal_code(frame.f_code):
                return None
            if asyncio.current_task() not in self._state:
                return None
            return self._local_trace
        except Exception:
            return None

    def _local_trace(self, frame, event, arg):
        try:
            if event == "exception":
                if issubclass(arg[0], _CancelledError):
                    st = self._state.get(asyncio.current_task())
                    if st is not None:
                        # the exception reached this frame: a handler below re-raised, or none caught it
                        st[_RAN] = False
                        st[_FRAME] = frame
                        st[_DELIVERED] = frame.f_lineno
                        st[_HANDLER] = None
            elif event == "line":
                task = asyncio.current_task()
                st = self._state.get(task)
                if st is not None and st[_ARMED] is frame and _absorbed(st, frame):
                    st[_RAN] = True
                # the first line the frame runs after it, not counting the line it was delivered at
                # (3.13 reports that line once more on the way to the handler)
                if st is not None and st[_FRAME] is frame and st[_HANDLER] is None and frame.f_lineno != st[_DELIVERED]:
                    st[_HANDLER] = frame.f_lineno
                    if st[_FOLLOW]:  # no window closes to keep it: kept now
                        rec = task._ct_rec
                        if rec is not None and rec.open_cancels > 0:
                            rec.catch = (frame.f_code.co_filename, st[_HANDLER], frame.f_code.co_qualname,
                                         st[_DELIVERED], None)
            elif event == "return":
                task = asyncio.current_task()
                st = self._state.get(task)
                if st is not None and st[_ARMED] is frame and _absorbed(st, frame):
                    st[_RAN] = True
                # the followed frame awaits or ends: once the step is over, see whether it is still running
                if st is not None and st[_FOLLOW] and st[_FRAME] is frame and not st[_CHECK]:
                    st[_CHECK] = True
                    task.get_loop().call_soon(self._check_follow, task)
        except Exception:
            return None
        return self._local_trace


def swallow_site(rec):
    """(site string, stacktrace, source line text or None) of a cancellation that did not end the task, when it can be found."""
    note = None
    flat = rec.cancel_frames or ()
    cancel_frames = list(zip(flat[::2], flat[1::2]))
    if rec.catch is not None:
        filepath, lineno, function, delivered, note = rec.catch
    elif cancel_frames:
        frame, at_cancel = cancel_frames[-1]
        for f, line in reversed(cancel_frames):
            if f.f_lineno != line:
                frame, at_cancel = f, line
                break
        filepath, lineno, function = frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_qualname
        delivered = at_cancel
    else:
        return None, None, None
    site = "%s:%s in %s" % (filepath, lineno, function)
    lines = ["Traceback (most recent call last):"]
    for f, line in cancel_frames:
        lines.append('  File "%s", line %d, in %s' % (f.f_code.co_filename, line or 0, f.f_code.co_qualname))
    lines.append(CANCELLED_ERROR_TYPE)
    lines.append('caught at: File "%s", line %s, in %s (%s)' % (filepath, lineno, function,
                                                                 note or "delivered at line %s" % delivered))
    source = linecache.getline(filepath, lineno).strip() if isinstance(lineno, int) else ""
    return site, "\n".join(lines), source or None
