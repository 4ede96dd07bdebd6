"""Where a cancellation was caught: a short trace window around the step that delivers it.

The window traces only the cancelled task's frames, only during the step in which the CancelledError
is thrown into it, and only when no debugger or coverage tool owns `sys.settrace`. Within that step
the exception is followed frame by frame as it propagates: the site is the last frame it reached (the
handler that stopped it, not a handler that cleaned up and re-raised) and the first line that frame
ran after it (the `except` line). When no window saw it, the frames captured at `cancel()` time give a
best effort.
"""

import asyncio
import sys

from ._task import is_internal_code

# Cancel storms (asyncio.run cancelling thousands of tasks) trace only this many deliveries at once;
# the others fall back to the frame heuristic for their catch site.
MAX_CATCH_WINDOWS = 32
CANCELLED_ERROR_TYPE = "asyncio.exceptions.CancelledError"

_CancelledError = asyncio.CancelledError


class CatchLocator:
    """Opens and closes the trace windows and turns what they saw into a swallow site."""

    def __init__(self):
        self._depth = 0
        self._scheduled = 0
        self._tracing = False
        self._state = {}  # task -> [frame, delivered line, handler line]

    def open_window(self, task):
        """Before a cancel is delivered: opens a trace window around the task's next step.

        When the task waits on a future that is not done, the cancel schedules its wake-up: the window
        opens just before it (call_soon now) and closes right after it. When the step that will throw
        the CancelledError is already queued (the future completed, or the task is ready to run), the
        window opens at once, so that step cannot run before it. Returns the loop to close it on, or None.
        """
        try:
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
        if self._depth == 0 and self._tracing:
            sys.settrace(None)
            self._tracing = False
        st = self._state.pop(task, None)
        if st is None or st[0] is None:
            return
        # A cancel that a scope already handed back (uncancel) was the scope's own to absorb: not a catch.
        if rec is not None and rec.open_cancels > 0 and not task.cancelled():
            frame, delivered, handler = st
            rec.catch = (frame.f_code.co_filename, handler or delivered, frame.f_code.co_qualname, delivered)

    def _on(self, task):
        self._state[task] = [None, None, None]
        if self._depth == 0 and sys.gettrace() is None:
            sys.settrace(self._global_trace)
            self._tracing = True
        self._depth += 1

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
                        st[0] = frame
                        st[1] = frame.f_lineno
                        st[2] = None
            elif event == "line":
                st = self._state.get(asyncio.current_task())
                # the first line the frame runs after it, not counting the line it was delivered at
                # (3.13 reports that line once more on the way to the handler)
                if st is not None and st[0] is frame and st[2] is None and frame.f_lineno != st[1]:
                    st[2] = frame.f_lineno
        except Exception:
            return None
        return self._local_trace


def swallow_site(rec):
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
