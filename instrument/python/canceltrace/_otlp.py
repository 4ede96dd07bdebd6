"""OTLP/JSON encoding of canceltrace spans (ids lower-case hex, times and ints as decimal strings)."""

import os
import random

SCOPE_NAME = "canceltrace"
SCOPE_VERSION = "0.1.0"
SPAN_KIND_INTERNAL = 1
STATUS_UNSET = 0
STATUS_ERROR = 2


# os.urandom is a system call (tens of microseconds in some sandboxes): seed a generator once per process.
_random = random.Random(os.urandom(16))


def reseed():
    """Fresh randomness after a fork, so that parent and child never share ids."""
    _random.seed(os.urandom(16))


def new_trace_id():
    """A random 32-digit lower-case hex trace id."""
    return "%032x" % (_random.getrandbits(128) or 1)


def new_span_id():
    """A random 16-digit lower-case hex span id."""
    return "%016x" % (_random.getrandbits(64) or 1)


def any_value(v):
    """Encodes one attribute value as an OTLP AnyValue (bool before int: bool is an int in Python)."""
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    return {"stringValue": str(v)}


def attributes(attrs):
    """Encodes a dict of attributes, skipping None values (the common types inline: this is the exporter's
    hot loop)."""
    out = []
    append = out.append
    for k, v in attrs.items():
        t = type(v)
        if t is str:
            append({"key": k, "value": {"stringValue": v}})
        elif t is int:
            append({"key": k, "value": {"intValue": str(v)}})
        elif v is not None:
            append({"key": k, "value": any_value(v)})
    return out


def span(trace_id, span_id, name, start_ns, end_ns, attrs, events, status_code=STATUS_UNSET, status_message=None):
    """One OTLP JSON span; `events` is a list of (name, time_ns, attrs)."""
    status = {"code": status_code}
    if status_message:
        status["message"] = status_message
    return {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "kind": SPAN_KIND_INTERNAL,
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(max(end_ns, start_ns)),
        "attributes": attributes(attrs),
        "events": [
            {"timeUnixNano": str(t), "name": n, "attributes": attributes(a)} for (n, t, a) in events
        ],
        "status": status,
    }


def request(resource_attrs, spans):
    """An ExportTraceServiceRequest body holding `spans` under one resource and the canceltrace scope."""
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": attributes(resource_attrs)},
                "scopeSpans": [{"scope": {"name": SCOPE_NAME, "version": SCOPE_VERSION}, "spans": spans}],
            }
        ]
    }
