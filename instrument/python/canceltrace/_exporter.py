"""Background OTLP/HTTP JSON exporter: a bounded queue drained by one daemon thread.

The program's threads only ever call `submit`, which never blocks and never raises: a full
queue drops the span and counts it. Network work (urllib, short timeout, retries on 429/503
with Retry-After, back-off while the collector is unreachable) happens on the daemon thread,
so an absent or slow collector cannot block, slow or crash the program, nor keep it alive.
"""

import json
import queue
import threading
import time
import urllib.error
import urllib.request

from . import _otlp
from ._report import report

DEFAULT_MAX_QUEUE_SPANS = 16384
DEFAULT_MAX_BATCH_SPANS = 512
DEFAULT_BATCH_DELAY_S = 0.1
DEFAULT_HTTP_TIMEOUT_S = 2.0
DEFAULT_RETRY_BUDGET_S = 30.0
MAX_RETRY_AFTER_S = 5.0
MAX_BACKOFF_S = 2.0
RETRYABLE_STATUS = (429, 502, 503, 504)
# at exit, with the collector known down, only the time to give up the batch in hand and count it
UNREACHABLE_EXIT_WAIT_S = 0.2


def _debug(msg):
    report(msg, "canceltrace exporter")


class Exporter:
    """Sends span batches to an OTLP/HTTP endpoint and/or appends them as JSON lines to a file."""

    def __init__(self, resource, endpoint=None, output=None, max_queue=DEFAULT_MAX_QUEUE_SPANS,
                 http_timeout=DEFAULT_HTTP_TIMEOUT_S, retry_budget=DEFAULT_RETRY_BUDGET_S):
        self.resource = resource
        self.endpoint = endpoint
        self.output = output
        self.http_timeout = http_timeout
        self.retry_budget = retry_budget
        self.dropped = 0
        self.sent = 0
        self._queue = queue.Queue(maxsize=max_queue)
        self._closing = False
        self._deadline = None
        self._lock = threading.Lock()
        self._file = None
        self._thread = None
        self._idle = threading.Event()
        self._idle.set()
        self._wake = threading.Event()  # cuts a retry's back-off short when the process exits
        self.unreachable = False  # the last attempt could not reach the collector (refused, timed out)

    def submit(self, span):
        """Queues one span (an encoded dict, or a callable that encodes it on the exporter thread);
        drops and counts it when the queue is full or closed."""
        if self._closing:
            self.dropped += 1
            return
        try:
            self._idle.clear()
            self._queue.put_nowait(span)
        except queue.Full:
            self.dropped += 1
            return
        if self._thread is None:
            self._start()

    def _start(self):
        with self._lock:
            if self._thread is None:
                t = threading.Thread(target=self._run, name="canceltrace-exporter", daemon=True)
                try:
                    t.start()
                except RuntimeError:  # at interpreter shutdown (3.12+): close() sends inline
                    return
                self._thread = t

    def flush(self, timeout):
        """Waits up to `timeout` seconds for everything queued to be written or given up."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self._queue.empty() and self._idle.is_set():
                return True
            self._idle.wait(min(0.05, max(0.0, end - time.monotonic())))
        return self._queue.empty() and self._idle.is_set()

    def close(self, timeout):
        """Sends what it can within `timeout` seconds, one attempt per batch, then drops the rest (counted).

        A collector already known to be unreachable gets only the moment it takes to count the drops."""
        self._deadline = time.monotonic() + timeout
        self._wake.set()
        if self.unreachable and not self.output:
            timeout = min(timeout, UNREACHABLE_EXIT_WAIT_S)
        if self._thread is None:
            self._send_inline(self._deadline)
        else:
            self.flush(timeout)
        self._closing = True
        while True:
            try:
                self._queue.get_nowait()
                self.dropped += 1
            except queue.Empty:
                break
        try:
            if self._file is not None:
                self._file.flush()
        except Exception:
            pass

    def _send_inline(self, deadline):
        """Sends the queue from the calling thread, batch by batch, until `deadline` (no thread could start)."""
        while time.monotonic() < deadline:
            batch = []
            while len(batch) < DEFAULT_MAX_BATCH_SPANS:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if not batch:
                return
            try:
                self._export(batch)
            except Exception as e:
                self.dropped += len(batch)
                _debug("export failed: %r" % (e,))

    def reset_after_fork(self):
        """In a forked child the thread is gone: start afresh with an empty queue."""
        self._queue = queue.Queue(maxsize=self._queue.maxsize)
        self._thread = None
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._wake = threading.Event()
        self._file = None

    def _run(self):
        while True:
            try:
                first = self._queue.get(timeout=0.5)
            except queue.Empty:
                self._idle.set()
                continue
            batch = [first]
            end = time.monotonic() + DEFAULT_BATCH_DELAY_S
            while len(batch) < DEFAULT_MAX_BATCH_SPANS:
                remaining = end - time.monotonic()
                if remaining <= 0 or self._deadline is not None:
                    try:
                        batch.append(self._queue.get_nowait())
                        continue
                    except queue.Empty:
                        break
                try:
                    batch.append(self._queue.get(timeout=remaining))
                except queue.Empty:
                    break
            try:
                self._export(batch)
            except Exception as e:  # the exporter thread must survive anything
                self.dropped += len(batch)
                _debug("export failed: %r" % (e,))
            if self._queue.empty():
                self._idle.set()

    def _export(self, batch):
        # items may be deferred encoders (callables): the program's thread only captured values
        spans = [item() if callable(item) else item for item in batch]
        body = json.dumps(_otlp.request(self.resource, spans), separators=(",", ":")).encode()
        if self.output:
            self._write_file(body)
        if self.endpoint:
            if not self._post(body):
                self.dropped += len(batch)
                return
        self.sent += len(batch)

    def _write_file(self, body):
        try:
            if self._file is None:
                self._file = open(self.output, "ab")
            self._file.write(body + b"\n")
            self._file.flush()
        except Exception as e:
            _debug("cannot write %s: %r" % (self.output, e))

    def _post(self, body):
        """POSTs one batch; retries 429/503 (Retry-After) and connection errors within the retry budget."""
        started = time.monotonic()
        backoff = 0.25
        while True:
            if self._deadline is not None and self.unreachable:
                return False  # exiting and the collector is down: no attempt that could hold the exit
            wait = None
            try:
                req = urllib.request.Request(self.endpoint, data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
                timeout = self.http_timeout
                if self._deadline is not None:
                    timeout = max(0.05, min(timeout, self._deadline - time.monotonic()))
                with urllib.request.urlopen(req, timeout=timeout) as resp:
                    resp.read()
                self.unreachable = False
                return True
            except urllib.error.HTTPError as e:
                self.unreachable = False
                if e.code not in RETRYABLE_STATUS:
                    _debug("collector refused a batch: HTTP %d" % e.code)
                    return False
                wait = _retry_after(e.headers.get("Retry-After"), backoff)
            except Exception as e:  # unreachable, reset, timeout
                _debug("collector unreachable: %r" % (e,))
                self.unreachable = True
                wait = backoff
            backoff = min(backoff * 2, MAX_BACKOFF_S)
            now = time.monotonic()
            if self._deadline is not None:
                # at exit: one attempt per batch, never a sleep that delays the process
                return False
            if now + wait - started > self.retry_budget:
                return False
            self._wake.wait(wait)


def _retry_after(header, default):
    """Seconds to wait from a Retry-After header (delta seconds), bounded; `default` if absent or a date."""
    try:
        if header is not None:
            return max(0.0, min(float(header), MAX_RETRY_AFTER_S))
    except ValueError:
        pass
    return default
