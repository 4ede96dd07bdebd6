"""A task's contract span (docs/conventions.md, "Task span"), built from the task and its record as JSON text."""

import traceback

from . import _otlp
from ._catch import CANCELLED_ERROR_TYPE, swallow_site
from ._task import attrs_dict, coroutine_chain, format_stack


def task_span(trace_id, task, rec, final, end_ns, snapshot):
    """One OTLP JSON span for `task` ending `final` at `end_ns` (a snapshot of an open task when `snapshot`)."""
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
        "task.shutdown_driver": True if rec.driver else None,
    }
    events = [(e[0], e[1], attrs_dict(e[2])) for e in rec.events]  # a request's event carries two more fields
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
        site, stack, source = swallow_site(rec)
        if site is not None:
            attrs["task.swallow_site"] = site
            if source is not None:
                attrs["task.swallow_line"] = source
            events.append(("exception", end_ns, {
                "exception.type": CANCELLED_ERROR_TYPE,
                "exception.message": "cancellation caught at %s and not re-raised" % site,
                "exception.stacktrace": stack,
                "exception.escaped": False,
            }))
    if snapshot:
        events.append(("task.stack", end_ns, {"task.stack": format_stack(coroutine_chain(task))}))
    return _otlp.span_json(trace_id, rec.span_id, task.get_name(), task._ct_t0, end_ns, attrs, events, status,
                           message)
