"""The exporter against a real local HTTP collector (stdlib http.server)."""

import json
import socket
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from canceltrace import _otlp
from canceltrace._exporter import Exporter

RESOURCE = {"service.name": "unit", "service.instance.id": "i-1", "process.pid": 1}


def a_span(i):
    return _otlp.span("0" * 31 + "1", "%016x" % (i + 1), "s%d" % i, 10, 20, {"task.kind": "asyncio", "n": i}, [])


class Collector:
    """A tiny OTLP/HTTP collector: records bodies; answers from a script of status codes, then 200."""

    def __init__(self, script=()):
        self.bodies = []
        self.script = list(script)
        self.lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with collector.lock:
                    collector.bodies.append((self.path, self.headers.get("Content-Type"), json.loads(body)))
                    status, headers = collector.script.pop(0) if collector.script else (200, {})
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/v1/traces" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def spans(self):
        return [s for _, _, b in self.bodies for rs in b["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ExporterTest(unittest.TestCase):
    def test_when_spans_are_submitted_then_they_arrive_as_one_otlp_json_request(self):
        collector = Collector()
        self.addCleanup(collector.close)
        exporter = Exporter(RESOURCE, endpoint=collector.url)
        for i in range(3):
            exporter.submit(a_span(i))
        self.assertTrue(exporter.flush(5))
        path, ctype, body = collector.bodies[0]
        self.assertEqual(path, "/v1/traces")
        self.assertEqual(ctype, "application/json")
        rs = body["resourceSpans"][0]
        self.assertIn({"key": "process.pid", "value": {"intValue": "1"}}, rs["resource"]["attributes"])
        self.assertEqual(rs["scopeSpans"][0]["scope"]["name"], "canceltrace")
        self.assertEqual([s["name"] for s in collector.spans()], ["s0", "s1", "s2"])
        self.assertEqual((exporter.sent, exporter.dropped), (3, 0))

    def test_when_the_collector_answers_503_with_retry_after_then_the_batch_is_retried_and_delivered(self):
        collector = Collector(script=[(503, {"Retry-After": "0.2"}), (429, {"Retry-After": "0"})])
        self.addCleanup(collector.close)
        exporter = Exporter(RESOURCE, endpoint=collector.url)
        started = time.monotonic()
        exporter.submit(a_span(0))
        self.assertTrue(exporter.flush(10))
        self.assertEqual(len(collector.bodies), 3)
        self.assertGreaterEqual(time.monotonic() - started, 0.2, "Retry-After was honoured")
        self.assertEqual((exporter.sent, exporter.dropped), (1, 0))

    def test_when_the_collector_rejects_a_batch_with_400_then_it_is_dropped_not_retried(self):
        collector = Collector(script=[(400, {})])
        self.addCleanup(collector.close)
        exporter = Exporter(RESOURCE, endpoint=collector.url)
        exporter.submit(a_span(0))
        self.assertTrue(exporter.flush(5))
        self.assertEqual(len(collector.bodies), 1)
        self.assertEqual(exporter.dropped, 1)

    def test_when_the_collector_is_unreachable_then_submit_never_blocks_and_close_is_bounded(self):
        exporter = Exporter(RESOURCE, endpoint="http://127.0.0.1:%d/v1/traces" % free_port())
        started = time.monotonic()
        for i in range(1000):
            exporter.submit(a_span(i))
        self.assertLess(time.monotonic() - started, 0.5)
        started = time.monotonic()
        exporter.close(0.5)
        self.assertLess(time.monotonic() - started, 1.5)
        self.assertEqual(exporter.sent, 0)
        self.assertEqual(exporter.dropped, 1000)

    def test_when_the_process_exits_while_retrying_a_refused_collector_then_close_does_not_wait_out_the_backoff(self):
        exporter = Exporter(RESOURCE, endpoint="http://127.0.0.1:%d/v1/traces" % free_port())
        exporter.submit(a_span(0))
        time.sleep(1.0)  # refused at 0, 0.25 and 0.75 s: now backing off until about 1.75 s
        started = time.monotonic()
        exporter.close(5.0)
        self.assertLess(time.monotonic() - started, 0.5, "an unreachable collector holds the exit")
        self.assertEqual((exporter.sent, exporter.dropped), (0, 1))

    def test_when_the_collector_comes_back_then_what_was_buffered_is_sent(self):
        port = free_port()
        exporter = Exporter(RESOURCE, endpoint="http://127.0.0.1:%d/v1/traces" % port)
        exporter.submit(a_span(0))
        time.sleep(0.4)  # first attempts fail: nobody listens
        collector = Collector()
        collector.server.server_close()
        # rebind the same port now that the exporter is backing off
        from http.server import ThreadingHTTPServer as Server
        collector.server = Server(("127.0.0.1", port), collector.server.RequestHandlerClass)
        threading.Thread(target=collector.server.serve_forever, daemon=True).start()
        self.addCleanup(collector.close)
        self.assertTrue(exporter.flush(10))
        self.assertEqual([s["name"] for s in collector.spans()], ["s0"])
        self.assertEqual(exporter.dropped, 0)

    def test_when_the_queue_is_full_then_spans_are_dropped_and_counted(self):
        exporter = Exporter(RESOURCE, endpoint=None, output=None, max_queue=5)
        exporter._start = lambda: None  # no consumer: the queue only fills
        for i in range(8):
            exporter.submit(a_span(i))
        self.assertEqual(exporter.dropped, 3)

    def test_when_an_output_file_is_given_then_each_batch_is_one_json_line(self):
        import os
        import tempfile

        path = os.path.join(tempfile.mkdtemp(), "out.jsonl")
        exporter = Exporter(RESOURCE, output=path)
        exporter.submit(a_span(0))
        exporter.submit(lambda: a_span(1))  # a deferred encoder runs on the exporter thread
        self.assertTrue(exporter.flush(5))
        with open(path) as f:
            lines = [json.loads(line) for line in f]
        names = [s["name"] for req in lines for rs in req["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
        self.assertEqual(names, ["s0", "s1"])


class OtlpEncoding(unittest.TestCase):
    def test_when_attributes_are_encoded_then_ints_are_strings_bools_stay_bools_and_none_is_skipped(self):
        encoded = _otlp.attributes({"i": 5, "b": True, "f": 0.5, "s": "x", "n": None})
        self.assertEqual(encoded, [
            {"key": "i", "value": {"intValue": "5"}},
            {"key": "b", "value": {"boolValue": True}},
            {"key": "f", "value": {"doubleValue": 0.5}},
            {"key": "s", "value": {"stringValue": "x"}},
        ])

    def test_when_ids_are_made_then_they_are_lower_case_hex_of_the_otlp_lengths(self):
        self.assertRegex(_otlp.new_trace_id(), r"^[0-9a-f]{32}$")
        self.assertRegex(_otlp.new_span_id(), r"^[0-9a-f]{16}$")
        self.assertNotEqual(_otlp.new_span_id(), _otlp.new_span_id())

    def test_when_a_span_is_encoded_then_times_are_decimal_strings(self):
        s = _otlp.span("a" * 32, "b" * 16, "n", 1_700_000_000_000_000_001, 1_700_000_000_000_000_002, {}, [("e", 7, {})])
        self.assertEqual(s["startTimeUnixNano"], "1700000000000000001")
        self.assertEqual(s["endTimeUnixNano"], "1700000000000000002")
        self.assertEqual(s["events"][0]["timeUnixNano"], "7")


if __name__ == "__main__":
    unittest.main()
