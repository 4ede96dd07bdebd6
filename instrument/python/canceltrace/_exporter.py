"""Background OTLP/HTTP JSON exporter: a bounded queue drained by one daemon thread.

The program's threads only ever call `submit`, which never blocks, never raises and takes no lock (a
deque append: it is safe even from a signal handler that interrupted the exporter's own code); a full
queue drops the span and counts it. Network and file work (urllib, short timeout, retries on 429/503
with Retry-After, back-off while the collector is unreachable) happens on the daemon thread, so an
absent or slow collector cannot block, slow or crash the program, nor keep it alive. At exit, `close`
waits for what is queued with a deadline that grows with the work left, and keeps why spans could not
be delivered, for the one line the recorder prints then.
"""

import collections
import json
import threading
import time

from . import _otlp
from ._report import report
from ._threads import start_thread

# A burst (a shutdown cancelling 100,000 tasks) is queued whole rather than dropped.
DEFAULT_MAX_QUEUE_SPANS = 262_144
DEFAULT_MAX_BATCH_SPANS = 2048
DEFAULT_BATCH_DELAY_S = 0.1
# a queue growing by this many spans per batch delay is a burst in progress: encoding waits for its end,
# at most this long
BURST_SPANS_PER_TICK = 256
MAX_EXPORT_DELAY_S = 1.0
IDLE_POLL_S = 0.02
DEFAULT_HTTP_TIMEOUT_S = 5.0
DEFAULT_RETRY_BUDGET_S = 30.0
MAX_RETRY_AFTER_S = 5.0
MAX_BACKOFF_S = 2.0
RETRYABLE_STATUS = (429, 502, 503, 504)
# at exit, with the collector known down, only the time to give up the batch in hand and count it
UNREACHABLE_EXIT_WAIT_S = 0.2
# at exit, the flush deadline grows by this much per span still queued (encode + send), up to a cap
EXIT_SECONDS_PER_SPAN = 0.0005
MAX_EXIT_FLUSH_S = 60.0
# at exit, give up when nothing was delivered for this long (a collector that accepts nothing)
EXIT_STALL_S = 10.0


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
        self.max_queue = max_queue
        # drops counted by the program's threads (submit) and by the exporter's: each counter has one writer
        self._dropped_submitted = 0
        self._dropped_exported = 0
        self.sent = 0
        self.last_error = None  # why the last spans could not be delivered (for the exit line)
        self._queue = collections.deque()
        self._in_flight = 0  # spans taken from the queue and not yet sent or dropped
        self._closing = False
        self._deadline = None
        self._lock = threading.Lock()
        self._file = None
        self._thread = None
        self._wake = threading.Event()  # cuts a retry's back-off short when the process exits
        # set by the exporter thread after each batch: flush() and the exit wait see the queue empty at once
        # instead of on their next poll (a hello world's exit waited one whole IDLE_POLL_S for its two spans)
        self._progress = threading.Event()
        self.unreachable = False  # the last attempt could not reach the collector (refused, timed out)

    @property
    def dropped(self):
        """Spans that were not delivered: refused by a full or closed queue, or given up by the exporter."""
        return self._dropped_submitted + self._dropped_exported

    def submit(self, span, essential=False):
        """Queues one span: an encoded dict, or what encodes it on the exporter thread (a callable, or a tuple
        (callable, *args)).

        Drops and counts it when the queue is full or closed; an `essential` span (a shutdown's) is queued
        past the bound, so the one span that says what was lost is never the one lost."""
        if self._closing or (len(self._queue) >= self.max_queue and not essential):
            self._dropped_submitted += 1
            self.last_error = self.last_error or "the export queue was full (%d spans)" % self.max_queue
            return
        self._queue.append(span)
        if self._thread is None:
            self._start()

    def pending(self):
        """Spans queued or being sent."""
        return len(self._queue) + self._in_flight

    def _start(self):
        with self._lock:
            if self._thread is None:
                try:
                    t = start_thread(self._run, "canceltrace-exporter")
                except RuntimeError:  # at interpreter shutdown (3.12+): close() sends inline
                    return
                self._thread = t

    def flush(self, timeout):
        """Waits up to `timeout` seconds for everything queued to be written or given up."""
        end = time.monotonic() + timeout
        while True:
            self._progress.clear()
            if not self.pending():
                return True
            if self._thread is None or time.monotonic() >= end:
                return False
            self._progress.wait(IDLE_POLL_S)

    def close(self, timeout):
        """Sends what it can, then drops the rest (counted). Waits `timeout` seconds plus a share per span
        still queued (at most MAX_EXIT_FLUSH_S), and stops early when nothing goes out for EXIT_STALL_S.

        A collector already known to be unreachable gets only the moment it takes to count the drops."""
        now = time.monotonic()
        budget = min(MAX_EXIT_FLUSH_S, timeout + self.pending() * EXIT_SECONDS_PER_SPAN)
        if self.unreachable and not self.output:
            budget = min(budget, UNREACHABLE_EXIT_WAIT_S)
        self._deadline = now + budget
        self._wake.set()
        if self._thread is None:
            self._send_inline(self._deadline)
        else:
            self._wait_until(self._deadline)
        self._closing = True
        left = len(self._queue)
        self._queue.clear()
        if left:
            self._dropped_exported += left
            self.last_error = self.last_error or "the exit flush ran out of time"
        try:
            if self._file is not None:
                self._file.flush()
        except Exception:
            pass

    def _wait_until(self, deadline):
        last_done = self.sent + self.dropped
        last_progress = time.monotonic()
        while True:
            self._progress.clear()
            if not self.pending():
                return
            now = time.monotonic()
            if now >= deadline:
                return
            done = self.sent + self.dropped
            if done != last_done:
                last_done, last_progress = done, now
            elif now - last_progress > EXIT_STALL_S:
                return
            if self.unreachable and not self.output:
                deadline = min(deadline, now + UNREACHABLE_EXIT_WAIT_S)
            self._progress.wait(IDLE_POLL_S)

    def _take_batch(self):
        queue = self._queue
        n = min(len(queue), DEFAULT_MAX_BATCH_SPANS)
        # counted in flight before the queue shrinks: pending() never reads 0 while a batch is being taken
        self._in_flight = n
        batch = []
        while queue and len(batch) < n:
            batch.append(queue.popleft())
        self._in_flight = len(batch)
        return batch

    def _send_inline(self, deadline):
        """Sends the queue from the calling thread, batch by batch, until `deadline` (no thread could start)."""
        while time.monotonic() < deadline:
            batch = self._take_batch()
            if not batch:
                return
            self._export_counted(batch)

    def reset_after_fork(self):
        """In a forked child the thread is gone: start afresh with an empty queue."""
        self._queue = collections.deque()
        self._in_flight = 0
        self._thread = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._progress = threading.Event()
        self._file = None

    def _run(self):
        while True:
            if not self._queue:
                self._pause(IDLE_POLL_S)
                continue
            if self._deadline is None:
                self._wait_for_a_lull()
            self._export_counted(self._take_batch())

    def _wait_for_a_lull(self):
        """Lets a small batch gather, and a burst (a shutdown cancelling thousands of tasks) finish before
        encoding: encoding competes with the program for the GIL, so it waits while the queue grows fast,
        up to MAX_EXPORT_DELAY_S and half the queue's bound. Not at exit: then every moment counts."""
        start = time.monotonic()
        last = len(self._queue)
        while self._deadline is None and len(self._queue) < self.max_queue // 2:
            self._pause(DEFAULT_BATCH_DELAY_S)
            now_len = len(self._queue)
            grew = now_len - last
            last = now_len
            if time.monotonic() - start >= MAX_EXPORT_DELAY_S:
                return
            if grew < BURST_SPANS_PER_TICK and now_len > 0:
                return

    def _pause(self, seconds):
        """Sleeps on the exporter thread; close() cuts it short (then it only paces an empty queue)."""
        if self._deadline is None:
            self._wake.wait(seconds)
        else:
            time.sleep(IDLE_POLL_S)

    def _export_counted(self, batch):
        try:
            self._export(batch)
        except Exception as e:  # the exporter thread must survive anything
            self._dropped_exported += len(batch)
            self.last_error = "export failed: %r" % (e,)
            _debug(self.last_error)
        finally:
            self._in_flight = 0
            self._progress.set()

    def _export(self, batch):
        # items may be deferred encoders (callables, (callable, *args) tuples): the program's thread only
        # captured values
        spans = []
        for item in batch:
            try:
                if type(item) is tuple:
                    spans.append(item[0](*item[1:]))
                else:
                    spans.append(item() if callable(item) else item)
            except Exception as e:
                self._dropped_exported += 1
                self.last_error = "a span could not be encoded: %r" % (e,)
        if not spans:
            return
        body = _otlp.request_json(self.resource, spans).encode()
        if self.output and not self._write_file(body):
            self._dropped_exported += len(spans)
            return
        if self.endpoint:
            if not self._post(body):
                self._dropped_exported += len(spans)
                return
        self.sent += len(spans)

    def _write_file(self, body):
        try:
            if self._file is None:
                self._file = open(self.output, "ab")
            self._file.write(body + b"\n")
            self._file.flush()
            return True
        except Exception as e:
            self.last_error = "cannot write %s: %s" % (self.output, e)
            _debug(self.last_error)
            return False

    def _post(self, body):
        """POSTs one batch; retries 429/503 (Retry-After) and connection errors within the retry budget
        (at exit: within the exit deadline, and not at all once the collector is known unreachable)."""
        import urllib.error  # only when posting: importing it costs the program ~15 ms at start
        import urllib.request

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
                    self.last_error = "the collector at %s refused them (HTTP %d)" % (self.endpoint, e.code)
                    _debug(self.last_error)
                    return False
                self.last_error = "the collector at %s stayed busy (HTTP %d)" % (self.endpoint, e.code)
                wait = _retry_after(e.headers.get("Retry-After"), backoff)
            except Exception as e:  # unreachable, reset, timeout
                reason = getattr(e, "reason", None) or e
                self.last_error = "the collector at %s could not be reached (%s)" % (self.endpoint, reason)
                _debug(self.last_error)
                self.unreachable = True
                wait = backoff
            backoff = min(backoff * 2, MAX_BACKOFF_S)
            now = time.monotonic()
            if self._deadline is not None:
                if self.unreachable or now + wait >= self._deadline:
                    return False
                time.sleep(wait)  # a busy collector at exit: retry within the exit deadline
                continue
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
