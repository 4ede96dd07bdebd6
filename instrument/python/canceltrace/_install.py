"""Hooks that instrument every event loop without code changes.

- the default policies' `new_event_loop` and `asyncio.Runner._lazy_init`: every loop creates instrumented Tasks;
- per loop: `add_signal_handler` (a SIGTERM/SIGINT callback opens a shutdown, then runs unchanged),
  `call_exception_handler` ("Task was destroyed but it is pending!" becomes a `loop.warning`, then the
  user's or default handler runs as before), `close` (ends the loop's shutdown; pending tasks are snapshotted);
- `asyncio.runners._cancel_all_tasks`: asyncio.run's cancel-all phase is a shutdown;
- `asyncio.Runner._on_sigint`: Ctrl-C under asyncio.run opens a SIGINT shutdown;
- `asyncio.shield` and `asyncio.timeout`: used by a task after its cancel, they become `task.shield.*` and
  `task.cleanup.*` events with their outcomes;
- `signal.signal`: a SIGTERM/SIGINT handler the program sets (uvicorn's), the default KeyboardInterrupt and
  SIGTERM's default action open a shutdown first, then run as before (SIGTERM's default action: recorded,
  flushed (bounded), then the process dies by SIGTERM).
"""

import asyncio
import asyncio.runners
import asyncio.tasks
import asyncio.timeouts
import functools
import os
import signal
import sys
import threading
import weakref

from ._task import Task, create_task_for, hooks

SHUTDOWN_SIGNALS = (signal.SIGTERM, signal.SIGINT)

_originals = {}
_last_loop = None  # weakref to the most recently instrumented loop


def _running_or_last_loop():
    loop = asyncio.events._get_running_loop()
    if loop is None and _last_loop is not None:
        loop = _last_loop()
        if loop is not None and loop.is_closed():
            loop = None
    return loop


def instrument_loop(loop):
    """Instruments one loop (idempotent): create_task, signal, exception-handler and close hooks."""
    global _last_loop
    try:
        # getattr, not loop.__dict__: reading __dict__ turns the loop's inline attribute values into a dict for
        # good, and every attribute lookup on the loop (call_soon, twice per task) is slower from then on
        if getattr(loop, "_ct_instrumented", False):
            return loop
        loop._ct_instrumented = True
    except Exception:
        return loop
    rec = hooks.recorder
    state = rec.loop_state(loop) if rec is not None else None
    _last_loop = weakref.ref(loop)
    loop.create_task = create_task_for(loop, loop.create_task)
    ref = weakref.ref(loop)

    orig_add = loop.add_signal_handler

    def add_signal_handler(sig, callback, *args):
        if sig in SHUTDOWN_SIGNALS:
            callback = _signal_callback(ref, sig, callback)
        return orig_add(sig, callback, *args)

    orig_handler = loop.call_exception_handler

    def call_exception_handler(context):
        try:
            message = context.get("message")
            r = hooks.recorder
            if r is not None and state is not None and isinstance(message, str) \
                    and message.startswith("Task was destroyed"):
                r.loop_warning(state, message)
        except Exception:
            pass
        return orig_handler(context)

    orig_close = loop.close

    def close():
        try:
            r = hooks.recorder
            lp = ref()
            if r is not None and lp is not None and not lp.is_closed():
                st = r.loops.get(lp)
                sd = st.shutdown if st is not None else None
                if sd is None and asyncio.all_tasks(lp):
                    sd = r.start_shutdown(lp, "loop_closed")
                if sd is not None:
                    r.end_shutdown(sd)
        except Exception:
            pass
        return orig_close()

    loop.add_signal_handler = add_signal_handler
    loop.call_exception_handler = call_exception_handler
    loop.close = close
    return loop


def _signal_callback(ref, sig, callback):
    name = signal.Signals(sig).name

    @functools.wraps(callback)
    def on_signal(*args):
        try:
            r = hooks.recorder
            loop = ref()
            if r is not None and loop is not None:
                r.start_shutdown(loop, name)
        except Exception:
            pass
        return callback(*args)

    return on_signal


def _patch_policy():
    cls = asyncio.events.BaseDefaultEventLoopPolicy
    orig = cls.new_event_loop
    _originals["new_event_loop"] = (cls, "new_event_loop", orig)

    def new_event_loop(self):
        loop = orig(self)
        if hooks.recorder is not None:
            instrument_loop(loop)
        return loop

    cls.new_event_loop = new_event_loop


def _patch_runner():
    runner = asyncio.runners.Runner
    orig_init = runner._lazy_init
    _originals["_lazy_init"] = (runner, "_lazy_init", orig_init)

    def _lazy_init(self):
        orig_init(self)
        if hooks.recorder is not None and self._loop is not None:
            instrument_loop(self._loop)

    runner._lazy_init = _lazy_init

    orig_sigint = runner._on_sigint
    _originals["_on_sigint"] = (runner, "_on_sigint", orig_sigint)

    def _on_sigint(self, *args, **kwargs):
        try:
            r = hooks.recorder
            if r is not None and self._loop is not None:
                r.start_shutdown(self._loop, "SIGINT")
        except Exception:
            pass
        return orig_sigint(self, *args, **kwargs)

    runner._on_sigint = _on_sigint

    orig_cancel_all = asyncio.runners._cancel_all_tasks
    _originals["_cancel_all_tasks"] = (asyncio.runners, "_cancel_all_tasks", orig_cancel_all)

    def _cancel_all_tasks(loop):
        r = hooks.recorder
        sd = None
        if r is not None:
            try:
                st = r.loop_state(loop)
                sd = st.shutdown
                if sd is None:
                    main = st.main() if st.main is not None else None
                    reason = "main_cancelled" if main is not None and main.cancelled() else "main_returned"
                    sd = r.start_shutdown(loop, reason)
                sd.event("shutdown.cancel_all", {"tasks.count": len(asyncio.all_tasks(loop))})
            except Exception:
                sd = None
        try:
            return orig_cancel_all(loop)
        finally:
            if sd is not None and r is not None:
                try:
                    r.end_shutdown(sd)
                except Exception:
                    pass

    asyncio.runners._cancel_all_tasks = _cancel_all_tasks


# ----- cleanup without code changes: asyncio.timeout() and asyncio.shield() after a cancel -----
_active_timeouts = weakref.WeakKeyDictionary()  # task -> [TracedTimeout] entered on the cancel path


def _cancel_path_task():
    """The current instrumented task if it is handling a cancellation, else None."""
    if hooks.recorder is None:
        return None
    try:
        task = asyncio.tasks.current_task()
    except RuntimeError:
        return None
    if isinstance(task, Task) and task._ct_rec is not None and task._ct_rec.cancel_requested and task.cancelling():
        return task
    return None


class TracedTimeout(asyncio.timeouts.Timeout):
    """asyncio.Timeout that, entered by a task after its cancel, records `task.cleanup.*` with its outcome."""

    _ct_delay = None
    _ct_name = None

    async def __aenter__(self):
        result = await super().__aenter__()
        task = _cancel_path_task()
        if task is not None:
            try:
                caller = sys._getframe(1)
                where = "%s:%d" % (os.path.basename(caller.f_code.co_filename), caller.f_lineno)
                delay = "" if self._ct_delay is None else "%g" % self._ct_delay
                self._ct_name = "asyncio.timeout(%s) at %s" % (delay, where)
                hooks.recorder.add_task_event(task, "task.cleanup.start", {"cleanup.name": self._ct_name})
                _active_timeouts.setdefault(task, []).append(self)
            except Exception:
                self._ct_name = None
        return result

    async def __aexit__(self, exc_type, exc_val, exc_tb):
        if self._ct_name is None:
            return await super().__aexit__(exc_type, exc_val, exc_tb)
        outcome = "error"
        try:
            result = await super().__aexit__(exc_type, exc_val, exc_tb)
            if exc_type is None or result:
                outcome = "ok"
            elif issubclass(exc_type, asyncio.CancelledError):
                outcome = "cancelled"
            return result
        except TimeoutError:
            outcome = "timeout"
            raise
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        finally:
            _end_timeout(self, outcome)


def _end_timeout(tm, outcome):
    try:
        task = tm._task
        stack = _active_timeouts.get(task)
        if stack and tm in stack:
            stack.remove(tm)
        r = hooks.recorder
        if r is not None:
            r.add_task_event(task, "task.cleanup.end", {"cleanup.name": tm._ct_name, "cleanup.outcome": outcome})
    except Exception:
        pass


def _patch_timeout():
    orig = asyncio.timeouts.timeout
    _originals["timeout"] = (asyncio.timeouts, "timeout", orig)

    def timeout(delay):
        loop = asyncio.events.get_running_loop()
        tm = TracedTimeout(loop.time() + delay if delay is not None else None)
        tm._ct_delay = delay
        return tm

    functools.update_wrapper(timeout, orig)
    asyncio.timeouts.timeout = timeout
    _originals["asyncio.timeout"] = (asyncio, "timeout", asyncio.timeout)
    asyncio.timeout = timeout


def _patch_shield():
    orig = asyncio.tasks.shield
    _originals["shield"] = (asyncio.tasks, "shield", orig)

    def shield(arg):
        outer = orig(arg)
        try:
            task = _cancel_path_task()
            if task is not None:
                record_shield(task, outer, getattr(arg, "__qualname__", None) or type(arg).__qualname__)
        except Exception:
            pass
        return outer

    functools.update_wrapper(shield, orig)
    asyncio.tasks.shield = shield
    _originals["asyncio.shield"] = (asyncio, "shield", asyncio.shield)
    asyncio.shield = shield


def record_shield(task, outer, name, timeout_s=None):
    """Records `task.shield.start` now and `task.shield.end` when the shielded future `outer` settles."""
    r = hooks.recorder
    if r is None:
        return
    stack = _active_timeouts.get(task) or []
    tm = stack[-1] if stack else None
    if timeout_s is None and tm is not None:
        timeout_s = tm._ct_delay
    attrs = {"shield.name": name}
    if timeout_s is not None:
        attrs["shield.timeout_ms"] = int(timeout_s * 1000)
    r.add_task_event(task, "task.shield.start", attrs)

    def on_settled(fut):
        try:
            if fut.cancelled():
                outcome = "timeout" if tm is not None and tm.expired() else "cancelled"
            elif fut._exception is not None:
                outcome = "error"
            else:
                outcome = "ok"
            rr = hooks.recorder
            if rr is not None:
                rr.add_task_event(task, "task.shield.end", {"shield.name": name, "shield.outcome": outcome})
        except Exception:
            pass

    outer.add_done_callback(on_settled)


# ----- SIGTERM with its default action -----
def _on_default_sigterm(signum, frame):
    try:
        r = hooks.recorder
        if r is not None:
            loop = _running_or_last_loop()
            if loop is not None:
                r.end_shutdown(r.start_shutdown(loop, "SIGTERM", from_signal=True))
            from ._recorder import SIGNAL_FLUSH_TIMEOUT_S

            r.exporter.close(SIGNAL_FLUSH_TIMEOUT_S)
            r.report_undelivered()
    except Exception:
        pass
    finally:
        _real_signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)


def _real_signal(signalnum, handler):
    """signal.signal as the signal module defines it (ours may be wrapped by _patch_signal_module)."""
    entry = _originals.get("signal")
    return (entry[2] if entry is not None else signal.signal)(signalnum, handler)


def open_signal_shutdown(signum):
    """A SIGTERM/SIGINT arrived: opens a shutdown on the running (or last) loop. Never raises.

    A Python signal handler runs between any two bytecodes of the main thread, possibly inside the
    recorder's own code while it holds a lock; on a running loop the opening is therefore handed to the
    loop (call_soon_threadsafe only appends to its ready queue and writes its self-pipe), which runs it
    before anything the program's handler set in motion."""
    try:
        r = hooks.recorder
        if r is None:
            return
        loop = _running_or_last_loop()
        if loop is None or loop.is_closed():
            return
        name = signal.Signals(signum).name
        if loop.is_running():
            loop.call_soon_threadsafe(_start_signal_shutdown, weakref.ref(loop), name)
        else:
            r.start_shutdown(loop, name, from_signal=True)
    except Exception:
        pass


def _start_signal_shutdown(ref, name):
    try:
        r = hooks.recorder
        loop = ref()
        if r is not None and loop is not None and not loop.is_closed():
            r.start_shutdown(loop, name, from_signal=True)
    except Exception:
        pass


def _recording_handler(handler):
    """A Python signal handler that opens the shutdown, then runs `handler` unchanged."""

    def on_signal(signum, frame):
        open_signal_shutdown(signum)
        return handler(signum, frame)

    on_signal._ct_original = handler
    return on_signal


def _on_default_sigint(signum, frame):
    open_signal_shutdown(signum)
    raise KeyboardInterrupt  # what signal.default_int_handler does


_on_default_sigint._ct_original = signal.default_int_handler


def _wrap(signalnum, handler):
    if signalnum not in SHUTDOWN_SIGNALS or hooks.recorder is None:
        return handler
    if signalnum == signal.SIGTERM and handler == signal.SIG_DFL:
        return _on_default_sigterm
    if handler is signal.default_int_handler:
        return _on_default_sigint
    if callable(handler) and getattr(handler, "_ct_original", None) is None:
        return _recording_handler(handler)
    return handler


def _unwrap(handler):
    if handler is _on_default_sigterm:
        return signal.SIG_DFL
    return getattr(handler, "_ct_original", handler)


def _patch_signal_module():
    """SIGTERM/SIGINT open a shutdown however the program handles them: every Python handler set with
    signal.signal (uvicorn's, the default KeyboardInterrupt) is wrapped by one that opens the shutdown
    first, and SIGTERM's default action by a stand-in that records, flushes and dies by SIGTERM as before.
    The program sees its own handlers: getsignal() and signal() report them unwrapped."""
    orig_get = signal.getsignal
    orig_set = signal.signal
    _originals["getsignal"] = (signal, "getsignal", orig_get)
    _originals["signal"] = (signal, "signal", orig_set)

    def getsignal(signalnum):
        return _unwrap(orig_get(signalnum))

    def set_signal(signalnum, handler):
        return _unwrap(orig_set(signalnum, _wrap(signalnum, handler)))

    functools.update_wrapper(getsignal, orig_get)
    functools.update_wrapper(set_signal, orig_set)
    signal.getsignal = getsignal
    signal.signal = set_signal


def install_hooks(handle_sigterm=True):
    """Installs the process-wide hooks once."""
    if _originals:
        return
    _patch_policy()
    _patch_runner()
    _patch_timeout()
    _patch_shield()
    if handle_sigterm and threading.current_thread() is threading.main_thread():
        try:
            _patch_signal_module()
            for sig in SHUTDOWN_SIGNALS:
                current = _originals["getsignal"][2](sig)
                wrapped = _wrap(sig, current)
                if wrapped is not current:
                    _real_signal(sig, wrapped)
        except (ValueError, OSError):
            pass
    running = asyncio.events._get_running_loop()
    if running is not None:
        instrument_loop(running)
