"""The recorder, end to end inside one Python process: real programs under `python -m canceltrace --output`."""

import os
import re
import signal
import subprocess
import sys
import time
import unittest

from .helpers import Dump, env_with_package, events, line_of, run_plain, run_recorded, write_program

HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")


class SwallowedCancellation(unittest.TestCase):
    def setUp(self):
        self.path = write_program("""
            import asyncio

            async def worker():
                while True:
                    try:
                        await asyncio.sleep(0.02)
                    except asyncio.CancelledError:  # CATCH
                        return "stopped"

            async def main():
                t = asyncio.create_task(worker(), name="swallower")  # CREATE
                await asyncio.sleep(0.1)
                t.cancel("bye")  # CANCEL
                print(await t)

            asyncio.run(main())
        """)
        self.proc, self.dump = run_recorded(self.path)

    def test_when_a_task_returns_from_its_except_block_then_it_ends_completed_with_the_catch_site(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr)
        span, a = self.dump.task("swallower")
        self.assertEqual(a["task.final_state"], "completed")
        self.assertEqual(a["task.swallow_site"], "%s:%d in worker" % (self.path, line_of(self.path, "# CATCH")))
        self.assertEqual(a["task.swallow_line"], "except asyncio.CancelledError:  # CATCH")
        exc = events(span, "exception")
        self.assertEqual(len(exc), 1)
        self.assertEqual(exc[0][1]["exception.type"], "asyncio.exceptions.CancelledError")
        self.assertIn('line %d, in worker' % line_of(self.path, "# CATCH"), exc[0][1]["exception.stacktrace"])

    def test_when_cancel_is_called_then_the_event_has_the_callers_site_message_and_count(self):
        span, _ = self.dump.task("swallower")
        (name, attrs), = events(span, "task.cancel_requested")
        self.assertEqual(attrs["cancel.message"], "bye")
        self.assertEqual(attrs["cancel.count"], "1")
        self.assertEqual(attrs["code.filepath"], self.path)
        self.assertEqual(attrs["code.lineno"], str(line_of(self.path, "# CANCEL")))
        self.assertEqual(attrs["code.function"], "main")

    def test_when_a_task_is_created_then_its_span_has_the_creation_site_parent_and_contract_attributes(self):
        span, a = self.dump.task("swallower")
        self.assertEqual(a["task.kind"], "asyncio")
        self.assertEqual(a["task.coroutine"], "worker")
        self.assertEqual(a["code.filepath"], self.path)
        self.assertEqual(a["code.lineno"], str(line_of(self.path, "# CREATE")))
        self.assertEqual(a["code.function"], "main")
        self.assertTrue(a["task.parent_id"].isdigit())
        self.assertNotEqual(a["task.parent_id"], a["task.id"])
        self.assertTrue(a["task.created_at"].isdigit())
        self.assertEqual(a["task.created_at"], span["startTimeUnixNano"])
        self.assertRegex(span["traceId"], HEX32)
        self.assertRegex(span["spanId"], HEX16)
        self.assertGreaterEqual(int(span["endTimeUnixNano"]), int(span["startTimeUnixNano"]))

    def test_when_exported_then_the_resource_and_scope_identify_the_process(self):
        resource, scope, _ = self.dump.records[0]
        self.assertEqual(resource["service.name"], "unit")
        self.assertRegex(resource["service.instance.id"], r"^[0-9a-f-]{36}$")
        self.assertEqual(resource["process.runtime.name"], "cpython")
        self.assertTrue(resource["process.pid"].isdigit())
        self.assertEqual(scope["name"], "canceltrace")


class FinalStates(unittest.TestCase):
    def test_when_tasks_end_cancelled_failed_or_normally_then_only_the_interesting_ones_are_exported(self):
        path = write_program("""
            import asyncio

            async def clean():
                try:
                    await asyncio.sleep(10)
                finally:
                    pass

            async def boom():
                raise ValueError("bad input")

            async def quick():
                return 1

            async def main():
                c = asyncio.create_task(clean(), name="clean")
                b = asyncio.create_task(boom(), name="boom")
                q = asyncio.create_task(quick(), name="quick")
                await asyncio.sleep(0.01)
                c.cancel()
                await asyncio.gather(c, b, q, return_exceptions=True)

            asyncio.run(main())
        """)
        proc, dump = run_recorded(path)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        _, clean = dump.task("clean")
        self.assertEqual(clean["task.final_state"], "cancelled")
        self.assertNotIn("task.swallow_site", clean)
        span, boom = dump.task("boom")
        self.assertEqual(boom["task.final_state"], "failed")
        (_, exc), = events(span, "exception")
        self.assertEqual(exc["exception.type"], "builtins.ValueError")
        self.assertEqual(exc["exception.message"], "bad input")
        self.assertEqual(span["status"]["code"], 2)
        self.assertEqual(dump.tasks("quick"), [], "a task never cancelled that ended before any shutdown costs no span")

    def test_when_all_tasks_flag_is_given_then_finished_tasks_are_exported_too(self):
        path = write_program("""
            import asyncio
            async def quick():
                return 1
            async def main():
                await asyncio.create_task(quick(), name="quick")
            asyncio.run(main())
        """)
        _, dump = run_recorded(path, extra_flags=["--all-tasks"])
        _, quick = dump.task("quick")
        self.assertEqual(quick["task.final_state"], "completed")


class Uncancel(unittest.TestCase):
    def test_when_user_code_uncancels_then_the_event_is_not_a_handoff_and_a_timeout_uncancel_is(self):
        path = write_program("""
            import asyncio

            async def misuse():
                try:
                    await asyncio.sleep(10)
                except asyncio.CancelledError:
                    asyncio.current_task().uncancel()
                    return "partial"

            async def deadline():
                try:
                    async with asyncio.timeout(0.02):
                        await asyncio.sleep(10)
                except TimeoutError:
                    return "fallback"

            async def main():
                m = asyncio.create_task(misuse(), name="misuse")
                d = asyncio.create_task(deadline(), name="deadline")
                await asyncio.sleep(0.01)
                m.cancel()
                await asyncio.gather(m, d)

            asyncio.run(main())
        """)
        proc, dump = run_recorded(path)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        span, a = dump.task("misuse")
        (_, un), = events(span, "task.uncancel")
        self.assertIs(un["uncancel.handoff"], False)
        self.assertEqual(un["cancel.count"], "0")
        self.assertEqual(a["task.final_state"], "completed")
        self.assertIn("task.swallow_site", a)
        span, a = dump.task("deadline")
        (_, un), = events(span, "task.uncancel")
        self.assertIs(un["uncancel.handoff"], True)
        self.assertTrue(events(span, "task.cancel_requested")[0][1]["code.filepath"].endswith("timeouts.py"))
        self.assertNotIn("task.swallow_site", a, "a cancel handed back by asyncio.timeout is not a swallow")


class CleanupWithoutCodeChanges(unittest.TestCase):
    def test_when_a_cancelled_task_flushes_under_shield_and_timeout_then_outcomes_are_recorded(self):
        path = write_program("""
            import asyncio

            async def flush(delay):
                await asyncio.sleep(delay)

            async def writer(delay):
                try:
                    await asyncio.sleep(10)
                finally:
                    try:
                        async with asyncio.timeout(0.2):
                            await asyncio.shield(flush(delay))
                    except TimeoutError:
                        pass

            async def main():
                ok = asyncio.create_task(writer(0.01), name="flush-ok")
                stuck = asyncio.create_task(writer(5), name="flush-stuck")
                await asyncio.sleep(0.01)
                ok.cancel(); stuck.cancel()
                await asyncio.gather(ok, stuck, return_exceptions=True)

            asyncio.run(main())
        """)
        proc, dump = run_recorded(path)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        for name, outcome in (("flush-ok", "ok"), ("flush-stuck", "timeout")):
            span, a = dump.task(name)
            self.assertEqual(a["task.final_state"], "cancelled")
            (_, start), = events(span, "task.shield.start")
            self.assertEqual(start["shield.timeout_ms"], "200")
            (_, end), = events(span, "task.shield.end")
            self.assertEqual(end["shield.outcome"], outcome)
            (_, cend), = events(span, "task.cleanup.end")
            self.assertEqual(cend["cleanup.outcome"], outcome)

    def test_when_a_timeout_is_used_by_a_task_that_was_not_cancelled_then_nothing_is_recorded(self):
        path = write_program("""
            import asyncio
            async def fine():
                async with asyncio.timeout(1):
                    await asyncio.sleep(0)
            async def main():
                await asyncio.create_task(fine(), name="fine")
            asyncio.run(main())
        """)
        _, dump = run_recorded(path)
        self.assertEqual(dump.tasks("fine"), [])


class Shutdowns(unittest.TestCase):
    def test_when_asyncio_run_cancels_the_rest_then_a_main_returned_shutdown_drains_to_zero(self):
        path = write_program("""
            import asyncio
            async def worker():
                try:
                    await asyncio.sleep(10)
                finally:
                    await asyncio.sleep(0.01)
            async def main():
                for i in range(5):
                    asyncio.create_task(worker(), name=f"w{i}")
                await asyncio.sleep(0.01)
            asyncio.run(main())
        """)
        proc, dump = run_recorded(path)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        (span, a), = dump.shutdowns()
        self.assertEqual(a["shutdown.reason"], "main_returned")
        self.assertEqual(a["shutdown.outcome"], "clean")
        self.assertEqual(a["shutdown.pending_baseline"], "0")
        (_, cancel_all), = events(span, "shutdown.cancel_all")
        self.assertEqual(cancel_all["tasks.count"], "5")
        counts = [int(e["tasks.pending.count"]) for _, e in events(span, "tasks.pending")]
        self.assertEqual(counts[0], 5)
        self.assertEqual(counts[-1], 0)
        self.assertEqual(len(events(span, "shutdown.drained")), 1)
        for i in range(5):
            self.assertEqual(dump.task("w%d" % i)[1]["task.final_state"], "cancelled")

    def test_when_the_loop_closes_with_a_pending_task_then_it_is_snapshotted_then_destroyed_with_a_warning(self):
        path = write_program("""
            import asyncio, gc
            async def forever():
                while True:
                    await asyncio.sleep(0.01)
            async def serve():
                asyncio.get_running_loop().create_task(forever(), name="forgotten")
                await asyncio.sleep(0.02)
            def run():
                loop = asyncio.new_event_loop()
                loop.run_until_complete(serve())
                loop.close()
            run()
            gc.collect()
        """)
        proc, dump = run_recorded(path)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("Task was destroyed but it is pending!", proc.stderr)
        snapshots = [a for _, _, s in dump.records for a in [dict((kv["key"], kv["value"]) for kv in s["attributes"])]
                     if a.get("task.name") == {"stringValue": "forgotten"} and "task.snapshot" in a]
        self.assertTrue(snapshots, "the orphan is exported as a snapshot at the loop's close")
        _, a = dump.task("forgotten")
        self.assertEqual(a["task.final_state"], "destroyed")
        (span, sd), = dump.shutdowns()
        self.assertEqual(sd["shutdown.reason"], "loop_closed")
        self.assertEqual(sd["shutdown.outcome"], "survivors")
        self.assertEqual([e["message"] for _, e in events(span, "loop.warning")], ["Task was destroyed but it is pending!"])

    def test_when_library_mode_marks_a_shutdown_then_gauges_and_cleanups_are_recorded(self):
        path = write_program("""
            import asyncio, canceltrace
            in_use = {"n": 0}
            canceltrace.gauge("pool.in_use", lambda: in_use["n"])
            async def handler():
                in_use["n"] += 1
                try:
                    await asyncio.sleep(10)
                except asyncio.CancelledError:
                    with canceltrace.cleanup("rollback"):
                        await asyncio.sleep(0)
                    return  # leaks its connection
            async def main():
                tasks = [asyncio.create_task(handler(), name=f"h{i}") for i in range(2)]
                await asyncio.sleep(0.01)
                async with canceltrace.shutdown("manual", drain_timeout=1.0):
                    for t in tasks:
                        t.cancel()
                    await asyncio.wait(tasks, timeout=0.5)
            asyncio.run(main())
        """)
        proc, dump = run_recorded(path)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        manual = [(s, a) for s, a in dump.shutdowns() if a["shutdown.reason"] == "manual"]
        (span, a), = manual
        self.assertEqual(a["shutdown.drain_timeout_ms"], "1000")
        self.assertEqual(a["shutdown.outcome"], "clean")
        gauges = [e for _, e in events(span, "resource.gauge")]
        self.assertEqual(gauges[0]["resource.baseline"], "0")
        self.assertEqual(gauges[-1]["resource.value"], "2")
        span, h = dump.task("h0")
        self.assertEqual(h["task.final_state"], "completed")
        ends = [e["cleanup.outcome"] for _, e in events(span, "task.cleanup.end")]
        self.assertEqual(ends, ["ok"])


class ProcessExit(unittest.TestCase):
    def test_when_a_loop_is_never_closed_then_its_pending_task_is_exported_at_exit_and_stderr_matches(self):
        path = write_program("""
            import asyncio
            async def forever():
                await asyncio.sleep(100)
            async def main():
                asyncio.create_task(forever(), name="left-pending")
                await asyncio.sleep(0.01)
            loop = asyncio.new_event_loop()
            loop.run_until_complete(main())
            print("end")
        """)
        plain = run_plain(path)
        proc, dump = run_recorded(path)
        self.assertIn("Task was destroyed but it is pending!", plain.stderr)
        self.assertEqual((proc.returncode, proc.stdout, proc.stderr), (plain.returncode, plain.stdout, plain.stderr),
                         "the recorder's done callback does not show in asyncio's task repr")
        _, a = dump.task("left-pending")
        self.assertEqual((a["task.final_state"], a["task.snapshot"]), ("pending", True))
        (_, sd), = dump.shutdowns()
        self.assertEqual((sd["shutdown.reason"], sd["shutdown.outcome"]), ("process_exit", "survivors"))


class CollectorDown(unittest.TestCase):
    def test_when_batches_were_dropped_before_the_shutdown_span_is_written_then_it_carries_their_count(self):
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        path = write_program("""
            import asyncio
            async def victim():
                await asyncio.sleep(10)
            async def main():
                tasks = [asyncio.create_task(victim()) for _ in range(5)]
                await asyncio.sleep(0)
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await asyncio.sleep(1.0)  # the exporter took the first batch and is retrying it (refused)
            asyncio.run(main())
        """)
        proc, dump = run_recorded(path, extra_flags=["--endpoint", "http://127.0.0.1:%d" % port])
        self.assertEqual(proc.returncode, 0)
        self.assertRegex(proc.stderr, r"^canceltrace: \d+ span\(s\) not delivered: [^\n]*could not be reached[^\n]*\n$")
        self.assertEqual(len(dump.tasks()), 5, "the output file still receives every span")
        (_, sd), = dump.shutdowns()
        self.assertGreaterEqual(int(sd["canceltrace.spans_dropped"]), 5)
        self.assertIs(sd["shutdown.incomplete"], True)


class HangThenKill(unittest.TestCase):
    def test_when_a_hung_shutdown_is_killed_then_snapshots_already_hold_the_survivor_and_its_stack(self):
        path = write_program("""
            import asyncio
            async def zombie():
                while True:
                    try:
                        await asyncio.sleep(0.02)  # SUSPENDED
                    except asyncio.CancelledError:
                        pass
            async def main():
                asyncio.create_task(zombie(), name="zombie")
                await asyncio.sleep(0.02)
                print("returning", flush=True)
            asyncio.run(main())
        """)
        out = path + ".jsonl"
        proc = subprocess.Popen([sys.executable, "-m", "canceltrace", "--output", out, path],
                                stdout=subprocess.PIPE, env=env_with_package())
        try:
            self.assertEqual(proc.stdout.readline().strip(), b"returning")
            time.sleep(1.8)  # at least one snapshot (every second of a shutdown)
        finally:
            proc.kill()
            proc.wait(10)
            proc.stdout.close()
        self.assertEqual(proc.returncode, -signal.SIGKILL)
        dump = Dump.load(out)
        span, a = dump.task("zombie")
        self.assertIs(a["task.snapshot"], True)
        self.assertEqual(a["task.final_state"], "pending")
        (_, stack), = events(span, "task.stack")
        self.assertIn('line %d, in zombie' % line_of(path, "# SUSPENDED"), stack["task.stack"])
        self.assertIn("task.swallow_site", a)
        (sd_span, sd), = dump.shutdowns()
        self.assertIs(sd["task.snapshot"], True)
        self.assertNotIn("shutdown.outcome", sd)
        self.assertEqual(int(events(sd_span, "tasks.pending")[-1][1]["tasks.pending.count"]), 1)


if __name__ == "__main__":
    unittest.main()
