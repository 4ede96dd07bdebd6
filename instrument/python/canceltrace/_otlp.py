"""OTLP/JSON encoding of canceltrace spans (ids lower-case hex, times and ints as decimal strings)."""

import json
import os
import random

SCOPE_NAME = "canceltrace"
SCOPE_VERSION = "0.1.0"
SPAN_KIND_INTERNAL = 1
STATUS_UNSET = 0
STATUS_ERROR = 2


_quote = json.encoder.encode_basestring_ascii  # a JSON string literal, as json.dumps writes it
_COMPACT = (",", ":")


class EncodedSpan(str):
    """One span already written as compact JSON text: the exporter puts it in the request body as is."""

    __slots__ = ()


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


# '{"key":"<name>","value":' of each attribute name met (names are a small fixed set: the contract's, and
# the program's gauge names), so that a span's keys are not quoted again for every span
_key_json = {}
MAX_CACHED_KEYS = 4096


def _key_prefix(k):
    prefix = '{"key":%s,"value":' % _quote(k)
    if len(_key_json) < MAX_CACHED_KEYS:
        _key_json[k] = prefix
    return prefix


def attributes_json(attrs):
    """`attributes(attrs)` written directly as compact JSON text: no intermediate dicts (they would be
    collector work for the garbage collector while the program holds many live objects)."""
    parts = []
    append = parts.append
    key_json = _key_json
    for k, v in attrs.items():
        if v is None:
            continue
        prefix = key_json.get(k) or _key_prefix(k)
        t = type(v)
        if t is str:
            append(prefix + '{"stringValue":' + _quote(v) + "}}")
        elif t is int:
            append('%s{"intValue":"%d"}}' % (prefix, v))
        elif t is bool:
            append(prefix + ('{"boolValue":true}}' if v else '{"boolValue":false}}'))
        else:
            append(prefix + json.dumps(any_value(v), separators=_COMPACT) + "}")
    return "[" + ",".join(parts) + "]"


def span_json(trace_id, span_id, name, start_ns, end_ns, attrs, events, status_code=STATUS_UNSET,
              status_message=None):
    """`span(...)` written directly as compact JSON text (the same fields in the same order)."""
    if status_message:
        status = '{"code":%d,"message":%s}' % (status_code, _quote(str(status_message)))
    else:
        status = '{"code":%d}' % status_code
    events_json = ",".join('{"timeUnixNano":"%d","name":%s,"attributes":%s}' % (t, _quote(n), attributes_json(a))
                           for (n, t, a) in events)
    return EncodedSpan(
        '{"traceId":%s,"spanId":%s,"name":%s,"kind":%d,"startTimeUnixNano":"%d","endTimeUnixNano":"%d",'
        '"attributes":%s,"events":[%s],"status":%s}'
        % (_quote(trace_id), _quote(span_id), _quote(name), SPAN_KIND_INTERNAL, start_ns, max(end_ns, start_ns),
           attributes_json(attrs), events_json, status))


def request_json(resource_attrs, spans):
    """`request(...)` as compact JSON text; each span is a dict or an EncodedSpan."""
    return '{"resourceSpans":[{"resource":{"attributes":%s},"scopeSpans":[{"scope":{"name":%s,"version":%s},' \
        '"spans":[%s]}]}]}' % (attributes_json(resource_attrs), _quote(SCOPE_NAME), _quote(SCOPE_VERSION),
                               ",".join(s if type(s) is EncodedSpan else json.dumps(s, separators=_COMPACT)
                                        for s in spans))
