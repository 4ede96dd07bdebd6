"""canceltrace: records asyncio task lifecycles and shutdowns as OpenTelemetry spans (stdlib only).

Zero-code: ``python -m canceltrace [--endpoint URL] [--service NAME] [--output FILE] script.py [args...]``.
Library mode::

    import canceltrace
    canceltrace.install(endpoint="http://localhost:4318", service_name="api")
    canceltrace.gauge("db.pool.in_use", lambda: pool.in_use)
    async with canceltrace.shutdown(reason="manual", drain_timeout=5.0):
        ...
"""

import asyncio
import atexit
import os
import sys
import uuid

from . import _install
from ._exporter import Exporter
from ._recorder import Recorder
from ._task import Task, hooks, refresh_watch_new

__all__ = ["install", "shutdown", "cleanup", "shielded", "gauge", "flush", "stats", "Task"]
__version__ = "0.1.0"

DEFAULT_SERVICE_NAME = "unknown_service:python"
_pending_gauges = {}


def _resolve_endpoint(endpoint):
    """The traces URL: an explicit base URL gets /v1/traces, as does OTEL_EXPORTER_OTLP_ENDPOINT;
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is used as it is."""
    if not endpoint:
        signal_specific = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        if signal_specific:
            return signal_specific
        endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not endpoint:
        return None
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/v1/traces") else endpoint + "/v1/traces"


def _resolve_service(service_name):
    if service_name:
        return service_name
    if os.environ.get("OTEL_SERVICE_NAME"):
        return os.environ["OTEL_SERVICE_NAME"]
    for pair in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, _, value = pair.partition("=")
        if key.strip() == "service.name" and value.strip():
            return value.strip()
    return DEFAULT_SERVICE_NAME


def _env_flag(name):
    return os.environ.get(name, "").lower() in ("1", "true", "yes", "on")


def install(endpoint=None, service_name=None, output=None, export_all=None, handle_sigterm=True):
    """Starts recording: every event loop created from now on (and the running one) is instrumented.

    endpoint: OTLP/HTTP base URL (default: OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT); output: a file that receives
    OTLP JSON lines (default: CANCELTRACE_OUTPUT); export_all: export every task, not only the cancelled,
    failed or shutdown-time ones (default: CANCELTRACE_EXPORT_ALL). Idempotent: returns the active recorder.
    """
    if hooks.recorder is not None:
        return hooks.recorder
    resource = {
        "service.name": _resolve_service(service_name),
        "service.instance.id": str(uuid.uuid4()),
        "process.pid": os.getpid(),
        "process.runtime.name": sys.implementation.name,
        "process.runtime.version": "%d.%d.%d" % sys.version_info[:3],
        "telemetry.sdk.name": "canceltrace",
        "telemetry.sdk.language": "python",
    }
    exporter = Exporter(resource, endpoint=_resolve_endpoint(endpoint),
                        output=output or os.environ.get("CANCELTRACE_OUTPUT") or None)
    if export_all is None:
        export_all = _env_flag("CANCELTRACE_EXPORT_ALL")
    recorder = Recorder(exporter, resource, export_all=bool(export_all))
    recorder.gauges.update(_pending_gauges)
    hooks.recorder = recorder
    hooks.export_all = bool(export_all)
    refresh_watch_new()
    _install.install_hooks(handle_sigterm=handle_sigterm)
    atexit.register(recorder.at_exit)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork)
    return recorder


def _after_fork():
    rec = hooks.recorder
    if rec is not None:
        rec.reset_after_fork(str(uuid.uuid4()), os.getpid())


def flush(timeout=2.0):
    """Waits up to `timeout` seconds for queued spans to be sent; True when everything went out."""
    rec = hooks.recorder
    return rec.exporter.flush(timeout) if rec is not None else True


def stats():
    """Exporter counters: {'sent': n, 'dropped': n}."""
    rec = hooks.recorder
    if rec is None:
        return {"sent": 0, "dropped": 0}
    return {"sent": rec.exporter.sent, "dropped": rec.exporter.dropped}


def gauge(name, fn, baseline=None):
    """Registers a resource gauge (`fn()` returns a number), sampled at every shutdown's start, every
    100 ms during it (from the sampler thread: keep `fn` a cheap, thread-safe read) and at its end.

    `baseline` is the value the resource should return to (e.g. 0 connections in use); by default, the
    value `fn()` returns now, at registration (usually start-up, when the resource is idle). Each sample
    carries it as `resource.baseline`.
    """
    if baseline is None:
        try:
            baseline = fn()
        except Exception:
            baseline = None
    entry = (fn, baseline)
    _pending_gauges[name] = entry
    rec = hooks.recorder
    if rec is not None:
        rec.gauges[name] = entry


class _SyncOrAsync:
    """A context manager usable with `with` and `async with`: entry and exit never await."""

    async def __aenter__(self):
        return self.__enter__()

    async def __aexit__(self, exc_type, exc, tb):
        return self.__exit__(exc_type, exc, tb)


class shutdown(_SyncOrAsync):
    """Marks a shutdown (sync or async context manager): ``async with canceltrace.shutdown("manual", 5.0):``.

    The shutdown span starts on entry and ends on exit with its outcome (`clean` when only the tasks that
    drive it are left, `timeout` when `drain_timeout` seconds passed with survivors, else `survivors`).
    If a shutdown is already open on the loop (a signal, asyncio.run's cancel-all), it is joined, not doubled.
    """

    def __init__(self, reason="manual", drain_timeout=None, loop=None):
        self.reason = reason
        self.drain_timeout = drain_timeout
        self.loop = loop
        self._sd = None
        self._owned = False

    def __enter__(self):
        rec = hooks.recorder
        if rec is None:
            return self
        try:
            loop = self.loop or _install._running_or_last_loop()
            st = rec.loops.get(loop) if loop is not None else None
            already = st.shutdown if st is not None else None
            ms = None if self.drain_timeout is None else int(self.drain_timeout * 1000)
            self._sd = rec.start_shutdown(loop, self.reason, ms)
            self._owned = self._sd is not already
        except Exception:
            self._sd = None
        return self

    def __exit__(self, exc_type, exc, tb):
        rec = hooks.recorder
        if rec is not None and self._sd is not None and self._owned:
            try:
                rec.end_shutdown(self._sd)
            except Exception:
                pass
        return False


def _outcome_of(exc_type):
    if exc_type is None:
        return "ok"
    if issubclass(exc_type, asyncio.CancelledError):
        return "cancelled"
    if issubclass(exc_type, TimeoutError):
        return "timeout"
    return "error"


class cleanup(_SyncOrAsync):
    """Records a cleanup step of the current task as `task.cleanup.start/end` with its outcome
    (`ok`, `cancelled`, `timeout`, `error`). Never swallows: exceptions pass through unchanged."""

    def __init__(self, name):
        self.name = name
        self._task = None

    def __enter__(self):
        rec = hooks.recorder
        if rec is not None:
            try:
                self._task = asyncio.current_task()
                rec.add_task_event(self._task, "task.cleanup.start", {"cleanup.name": self.name})
            except Exception:
                self._task = None
        return self

    def __exit__(self, exc_type, exc, tb):
        rec = hooks.recorder
        if rec is not None and self._task is not None:
            try:
                rec.add_task_event(self._task, "task.cleanup.end",
                                   {"cleanup.name": self.name, "cleanup.outcome": _outcome_of(exc_type)})
            except Exception:
                pass
        return False


async def shielded(coro, timeout, name=None):
    """Runs a must-run step to completion even if the caller is cancelled, bounded by `timeout` seconds:
    the shield + timeout pattern, recorded as `task.shield.start/end`.

    Returns the step's result, or None when the bound expired (outcome `timeout`; the step is abandoned).
    Other errors propagate. A cancel that arrives during the step still propagates after recording.
    """
    loop = asyncio.get_running_loop()
    inner = asyncio.ensure_future(coro, loop=loop)
    task = asyncio.current_task()
    label = name or getattr(coro, "__qualname__", None) or "shielded"
    rec = hooks.recorder
    outer = _install._originals["shield"][2](inner) if _install._originals else asyncio.shield(inner)
    if rec is not None:
        try:
            rec.add_task_event(task, "task.shield.start", {"shield.name": label,
                                                          "shield.timeout_ms": int(timeout * 1000)})
        except Exception:
            pass
    outcome = "error"
    try:
        async with asyncio.timeouts.Timeout(loop.time() + timeout):
            result = await outer
        outcome = "ok"
        return result
    except TimeoutError:
        outcome = "timeout"
        return None
    except asyncio.CancelledError:
        outcome = "cancelled"
        raise
    finally:
        if rec is not None:
            try:
                rec.add_task_event(task, "task.shield.end", {"shield.name": label, "shield.outcome": outcome})
            except Exception:
                pass
