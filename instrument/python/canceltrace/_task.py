"""The instrumented asyncio Task and its lazily created record.

Hot path: the loop's `create_task` stores one tuple (ids, time, the creation site's code object);
nothing else is allocated for a task that is never cancelled, never fails and ends before any shutdown.
A `TaskRecord` (events, span id, frames) appears only when something worth exporting happens.
The class is named `Task` so that reprs and asyncio's own log lines read exactly as without us.
"""

import asyncio
import itertools
import os
import sys
import time
import types

_getframe = sys._getframe
_time_ns = time.time_ns


def _current_task_of():
    """asyncio.current_task(loop) at the cost of one C call: on 3.11 it is a Python function around the C
    module's dict of current tasks, whose `get` answers the same for a given loop."""
    current = getattr(asyncio.tasks, "_current_tasks", None)
    if isinstance(asyncio.current_task, types.FunctionType) and isinstance(current, dict):
        return current.get
    return asyncio.current_task


_current_task = _current_task_of()
_ids = itertools.count(1)
_group_ids = itertools.count(1)

_ASYNCIO_DIR = os.path.dirname(asyncio.__file__) + os.sep
_OWN_DIR = os.path.dirname(__file__) + os.sep

# classification of code objects met while looking for a creation site
_USER = 0
_INTERNAL = 1
_GROUP = 2  # TaskGroup.create_task: its `self` is the group
_MAIN = 3  # Runner.run: the task is the main task of asyncio.run / Runner
_CALLBACK = 4  # Handle._run: created by a loop callback, above it is only the loop's own machinery
# kind of each code object met, keyed by id(): hashing a code object hashes its names, constants and
# bytecode (hundreds of instructions per task created), an id is hashed at once. The codes are kept in
# _known_codes so that no id is reused while it is a key.
_codes = {}
_known_codes = []
_user_codes = set()  # ids of the _USER codes: the one test a task created from the program's own code needs
_TG_CODE = asyncio.TaskGroup.create_task.__code__
_RUNNER_CODE = asyncio.Runner.run.__code__
_HANDLE_RUN_CODE = asyncio.events.Handle._run.__code__


def _classify(code):
    if code is _TG_CODE:
        kind = _GROUP
    elif code is _RUNNER_CODE:
        kind = _MAIN
    elif code is _HANDLE_RUN_CODE:
        kind = _CALLBACK
    else:
        fn = code.co_filename
        kind = _INTERNAL if (fn.startswith(_ASYNCIO_DIR) or fn.startswith(_OWN_DIR)) else _USER
    _known_codes.append(code)
    _codes[id(code)] = kind
    if kind == _USER:
        _user_codes.add(id(code))
    return kind


_offset_lines = {}  # (id(code), offset) -> line, for codes in _known_codes (kept alive: ids never reused)


def line_at(code, offset):
    """The line of the instruction at byte `offset` in `code` (what `frame.f_lineno` reads), or 0."""
    key = (id(code), offset)
    line = _offset_lines.get(key)
    if line is not None:
        return line
    line = 0
    for start, end, at in code.co_lines():
        if start <= offset < end:
            line = at or 0
            break
    if id(code) in _codes:
        _offset_lines[key] = line
    return line


def is_internal_code(code):
    """True for code in asyncio or canceltrace."""
    kind = _codes.get(id(code))
    if kind is None:
        kind = _classify(code)
    return kind != _USER


class _Hooks:
    """What the Task calls back into; set by the recorder at install (None: recording off)."""

    recorder = None
    export_all = False
    shutdown_active = 0


# export_all or shutdown_active: new tasks are watched from creation. The one flag create_task reads, kept
# as a module global (a class attribute is a slower read on 3.11).
_watch_new = False


def refresh_watch_new():
    """Recomputes the one flag the hot path reads."""
    global _watch_new
    _watch_new = bool(_Hooks.export_all or _Hooks.shutdown_active)


hooks = _Hooks


def flat_attrs(attrs):
    """An event's attributes as one flat tuple (key, value, key, value, ...)."""
    return tuple([x for kv in attrs.items() for x in kv])


def attrs_dict(flat):
    """The dict of a flat attribute tuple (a key given twice keeps its first place and its last value)."""
    return dict(zip(flat[::2], flat[1::2]))


class TaskRecord:
    """Everything about one task that is exported: created on the first cancel, failure or shutdown.

    Its events, requests and cancel frames are tuples, replaced (not grown) on each change, and an event's
    attributes a flat tuple of strings and numbers: such tuples drop out of the garbage collector's lists
    after its first pass (a list or a dict anywhere inside keeps them in), and a cancel storm keeps 100,000
    records alive at once while every full collection walks what is tracked. The thread that builds a
    snapshot reads whole tuples.
    """

    __slots__ = ("span_id", "events", "cancel_requested", "cancel_frames", "catch", "final", "end_ns",
                 "callback_added", "exported_final", "open_cancels", "group_cancels", "requests",
                 "driver")

    def __init__(self):
        self.span_id = None
        self.events = ()  # (name, time_ns, flat attrs)
        self.cancel_requested = False
        # (frame, lineno, frame, lineno, ...) user frames where the first cancel was delivered
        self.cancel_frames = None
        self.catch = None  # (filepath, lineno, function, delivered_lineno, note) of the handler that stopped it
        self.final = None
        self.end_ns = None
        self.callback_added = False
        self.exported_final = False
        self.open_cancels = 0  # cancels not handed back by asyncio's timeouts / TaskGroups
        self.group_cancels = 0  # cancels a TaskGroup made on its parent and has not uncancelled yet
        self.driver = False  # drives a shutdown (asyncio.run's main task, a task cancelling others in it)
        # the task.cancel_requested events of the cancels no scope has handed back, each one tuple serving as
        # both: (name, time_ns, flat attrs, requester ids, group id or None)
        self.requests = ()

    def add_event(self, name, time_ns, attrs):
        """Appends an event; `attrs` a dict or a flat tuple."""
        self.events += ((name, time_ns, attrs if type(attrs) is tuple else flat_attrs(attrs)),)

    def hand_back(self, request, token):
        """A scope handed a request's cancel back: its event names the scope, and the request is closed."""
        named = (request[0], request[1], request[2] + ("cancel.scope", token))
        self.events = tuple([named if e is request else e for e in self.events])
        self.requests = tuple([r for r in self.requests if r is not request])
        self.open_cancels = max(0, self.open_cancels - 1)


_task_init = asyncio.Task.__init__
_task_cancel = asyncio.Task.cancel
_task_uncancel = asyncio.Task.uncancel
_task_del = asyncio.Task.__del__
_task_done = asyncio.Task.done
_callbacks_of = asyncio.Task._callbacks.__get__


class Task(asyncio.Task):
    """An asyncio.Task that remembers where it was created and sees every cancel and uncancel."""

    # one tuple (id, created_ns, code, offset, parent_id, group_id, is_main): a single slot store per task; the
    # offset of the creating instruction becomes a line number only when the span is built (see _ct_line)
    __slots__ = ("_ct", "_ct_rec")

    @property
    def _ct_id(self):
        return self._ct[0]

    @property
    def _ct_t0(self):
        return self._ct[1]

    @property
    def _ct_code(self):
        return self._ct[2]

    @property
    def _ct_line(self):
        code = self._ct[2]
        return 0 if code is None else line_at(code, self._ct[3])

    @property
    def _ct_parent(self):
        return self._ct[4]

    @property
    def _ct_group(self):
        return self._ct[5]

    @property
    def _ct_main(self):
        return self._ct[6]

    @property
    def _callbacks(self):
        # asyncio's repr ("Task was destroyed but it is pending!", print(task)) lists the done callbacks:
        # the recorder's own is left out so that every line reads as it does without canceltrace.
        cbs = _callbacks_of(self)
        if cbs:
            cbs = [item for item in cbs if not getattr(item[0], "_ct_hidden", False)]
        return cbs or None

    def cancel(self, msg=None):
        rec = hooks.recorder
        if rec is None or _task_done(self):
            return _task_cancel(self, msg)
        window = rec.catch.open_window(self)
        result = _task_cancel(self, msg)
        rec.on_cancel(self, result, msg, _getframe(1), window)
        return result

    def uncancel(self):
        n = _task_uncancel(self)
        rec = hooks.recorder
        if rec is not None:
            rec.on_uncancel(self, n, _getframe(1))
        return n

    def __del__(self):
        # A finished task without a record or an exception has nothing to report, and asyncio's own finalizer
        # has nothing to log for it either (it logs only a pending task or an exception never retrieved):
        # most tasks end here, after three reads.
        try:
            if self._ct_rec is None and self._exception is None and _task_done(self):
                return
            rec = self._ct_rec
        except AttributeError:  # constructed outside create_task: nothing recorded
            _task_del(self)
            return
        if rec is not None or self._exception is not None or not _task_done(self):
            rec = hooks.recorder
            if rec is not None:
                try:
                    rec.on_task_del(self)
                except Exception:
                    pass
        _task_del(self)


def create_task_for(loop, original):
    """A `create_task` for one loop that builds instrumented Tasks directly.

    The bookkeeping lives here rather than in a Python `Task.__init__`: the C constructor runs
    unwrapped, and the creation site is found from this one frame. A task factory the program sets
    later takes over as usual.
    """

    def create_task(coro, *, name=None, context=None):
        if loop._task_factory is not None:
            return original(coro, name=name, context=context)
        loop._check_closed()
        task = Task(coro, loop=loop, name=name, context=context)
        if task._source_traceback:
            del task._source_traceback[-1]
        f = _getframe(1)
        code = f.f_code
        if id(code) in _user_codes:  # created by the program's own code: the common case, kept short
            parent = _current_task(loop)
            task._ct = (next(_ids), _time_ns(), code, f.f_lasti, parent._ct[0] if parent.__class__ is Task else 0,
                        None, False)
            task._ct_rec = None
            if _watch_new:
                _created_watched(task)
            return task
        return _created_elsewhere(loop, task, f)

    return create_task


def _created_elsewhere(loop, task, f):
    """create_task's bookkeeping when its caller is not the program's own code (asyncio, a TaskGroup,
    asyncio.run, a loop callback): the creation site is the first frame of the program above it."""
    group = None
    main = False
    while f is not None:
        code = f.f_code
        kind = _codes.get(id(code))
        if kind is None:
            kind = _classify(code)
        if kind == _USER:
            break
        if kind == _CALLBACK:
            f = None
            break
        if kind == _GROUP:
            group = _group_id(f)
        elif kind == _MAIN:
            main = True
        f = f.f_back
    parent = _current_task(loop)
    task._ct = (next(_ids), _time_ns(), None if f is None else f.f_code, 0 if f is None else f.f_lasti,
                parent._ct[0] if parent.__class__ is Task else 0, group, main)
    task._ct_rec = None
    if _watch_new or main:
        _created_watched(task)
    return task


def _created_watched(task):
    rec = hooks.recorder
    if rec is not None:
        rec.on_created_watched(task)


def _group_id(frame):
    try:
        group = frame.f_locals.get("self")
        gid = getattr(group, "_ct_group_id", None)
        if gid is None:
            gid = "tg-%d-%d" % (os.getpid(), next(_group_ids))
            group._ct_group_id = gid
        return gid
    except Exception:
        return None


# line of each (id(code), instruction offset) met in a cancel: `frame.f_lineno` scans the code's line table
# from its start at every read, and a program cancels from and at the same few places many times. The
# codes are kept in _line_codes so that no id is reused while it is part of a key.
_lines = {}
_line_codes = []


def line_of(frame):
    """`frame.f_lineno`, remembered per code and instruction."""
    code = frame.f_code
    key = (id(code), frame.f_lasti)
    line = _lines.get(key)
    if line is None:
        line = frame.f_lineno
        _lines[key] = line
        _line_codes.append(code)
    return line


def caller_site(frame):
    """(filepath, lineno, function) of the first frame outside canceltrace, starting at `frame`."""
    f = frame
    while f is not None and f.f_code.co_filename.startswith(_OWN_DIR):
        f = f.f_back
    if f is None:
        return (None, None, None)
    code = f.f_code
    return (code.co_filename, line_of(f), code.co_qualname)


def user_frames(task):
    """(frame, line, frame, line, ...) of the task's suspended frames in the program's own code, outermost
    first (one flat tuple: one object for the collector). Called on every cancel: coroutine_chain and
    line_of are written out here."""
    found = []
    try:
        obj = task.get_coro()
    except Exception:
        return ()
    depth = 0
    while obj is not None and depth < 64:
        f = getattr(obj, "cr_frame", None) or getattr(obj, "gi_frame", None) or getattr(obj, "ag_frame", None)
        if f is None:
            break
        code = f.f_code
        key = id(code)
        kind = _codes.get(key)
        if kind is None:
            kind = _classify(code)
        if kind == _USER:
            line = _lines.get((key, f.f_lasti))
            found.append(f)
            found.append(line_of(f) if line is None else line)
        obj = getattr(obj, "cr_await", None) or getattr(obj, "gi_yieldfrom", None) or getattr(obj, "ag_await", None)
        depth += 1
    return tuple(found)


_TASKGROUP_FILE = os.path.join(_ASYNCIO_DIR, "taskgroups.py")
# Every task asyncio registered and that is still alive, done or not (asyncio.all_tasks() leaves the done
# ones out); None where asyncio keeps no such set.
LIVE_TASKS = getattr(asyncio.tasks, "_scheduled_tasks", None) or getattr(asyncio.tasks, "_all_tasks", None)
# A cancel's requester is looked for on the caller's stack up to the loop callback that ran it.
_CALLBACK_BOUNDARY = _HANDLE_RUN_CODE
MAX_REQUESTER_FRAMES = 8
MAX_ABSORBER_FRAMES = 3


def self_of(frame):
    """The object whose method runs in `frame` (its first argument named `self`), else None."""
    code = frame.f_code
    if not code.co_argcount or code.co_varnames[0] != "self":
        return None
    try:
        return frame.f_locals.get("self")
    except Exception:
        return None


def requester_candidates(frame):
    """The objects whose methods are on the stack that called `cancel()`, innermost first, up to the loop
    callback that ran them: one of them is the scope that requested the cancel (an asyncio Timeout or
    TaskGroup, an anyio CancelScope and the scope it delivers for). Returns a tuple of ids."""
    found = []
    f = frame
    n = 0
    while f is not None and n < MAX_REQUESTER_FRAMES:
        code = f.f_code
        if code is _CALLBACK_BOUNDARY:
            break
        if code.co_argcount and code.co_varnames[0] == "self":  # self_of's test, without a call per frame
            obj = self_of(f)
            if obj is not None and not isinstance(obj, asyncio.Future):
                found.append(id(obj))
        f = f.f_back
        n += 1
    return tuple(found)


def absorber_of(frame):
    """The object (a scope) whose method called `uncancel()`: the innermost method frame, else None."""
    f = frame
    n = 0
    while f is not None and n < MAX_ABSORBER_FRAMES and f.f_code is not _CALLBACK_BOUNDARY:
        obj = self_of(f)
        if obj is not None:
            return None if isinstance(obj, asyncio.Future) else obj
        f = f.f_back
        n += 1
    return None


def scope_token(obj):
    """The contract's `cancel.scope` for an object: its type and identity, unique while it lives."""
    cls = type(obj)
    return "%s.%s@%x" % (cls.__module__, cls.__qualname__, id(obj))


def is_taskgroup_caller(frame):
    """True when asyncio's TaskGroup made the call."""
    return frame is not None and frame.f_code.co_filename == _TASKGROUP_FILE




def coroutine_chain(task):
    """The suspended frames of a task from outermost to innermost, following `cr_await`."""
    frames = []
    try:
        obj = task.get_coro()
    except Exception:
        return frames
    depth = 0
    while obj is not None and depth < 64:
        f = getattr(obj, "cr_frame", None) or getattr(obj, "gi_frame", None) or getattr(obj, "ag_frame", None)
        if f is None:
            break
        frames.append(f)
        obj = getattr(obj, "cr_await", None) or getattr(obj, "gi_yieldfrom", None) or getattr(obj, "ag_await", None)
        depth += 1
    return frames


def format_stack(frames):
    """Traceback-style lines for frames (outermost first)."""
    return "\n".join('  File "%s", line %d, in %s' % (f.f_code.co_filename, f.f_lineno or 0, f.f_code.co_qualname)
                     for f in frames)
