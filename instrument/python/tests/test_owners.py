"""Who asked for a cancel and who absorbed it; which signals open a shutdown; who drives it (issue 9, items 1-4)."""

import signal
import subprocess
import sys
import time
import unittest

from .helpers import Dump, env_with_package, events, line_of, run_recorded, write_program


# the uncaught-KeyboardInterrupt program sleeps after printing `ready`: the signal is sent once it is there,
# so that both runs are interrupted on the same line
SETTLE_S = 0.3


def requests_and_uncancels(span):
    return events(span, "task.cancel_requested"), events(span, "task.uncancel")


class CancelOwners(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # A scope written the way anyio's is: it cancels its host task from a loop callback, and when it
        # exits it hands back (uncancel) only the cancels it made itself.
        cls.path = write_program("""
            import asyncio

            class Scope:
                def __init__(self, delay):
                    self.delay = delay
                    self.made = 0

                def __enter__(self):
                    self.task = asyncio.current_task()
                    self.handle = asyncio.get_running_loop().call_later(self.delay, self._deliver)
                    return self

                def _deliver(self):
                    self.task.cancel("deadline of my scope")
                    self.made += 1

                def __exit__(self, exc_type, exc, tb):
                    self.handle.cancel()
                    while self.made:
                        self.task.uncancel()
                        self.made -= 1
                    return exc_type is asyncio.CancelledError and self.task.cancelling() == 0

            async def handled():
                with Scope(0.01):
                    await asyncio.sleep(10)
                return "timed out, handled"

            async def eats_outside_cancel():
                try:
                    await asyncio.sleep(10)
                except asyncio.CancelledError:
                    asyncio.current_task().uncancel()  # not its own cancel: a swallow
                return "ate it"

            async def main():
                print(await asyncio.create_task(handled(), name="handled"))
                t = asyncio.create_task(eats_outside_cancel(), name="eater")
                await asyncio.sleep(0.01)
                t.cancel()
                print(await t)

            asyncio.run(main())
        """)
        cls.proc, cls.dump = run_recorded(cls.path)

    def test_when_a_scope_hands_back_the_cancel_it_requested_then_both_events_name_it_and_the_uncancel_is_a_handoff(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr)
        span, a = self.dump.task("handled")
        (_, req), = events(span, "task.cancel_requested")
        (_, unc), = events(span, "task.uncancel")
        self.assertRegex(req["cancel.scope"], r"^__main__\.Scope@[0-9a-f]+$")
        self.assertEqual(unc["cancel.scope"], req["cancel.scope"])
        self.assertIs(unc["uncancel.handoff"], True)
        self.assertNotIn("task.swallow_site", a)

    def test_when_a_task_uncancels_a_cancel_that_came_from_outside_then_it_names_no_scope_and_is_no_handoff(self):
        span, a = self.dump.task("eater")
        (_, req), = events(span, "task.cancel_requested")
        (_, unc), = events(span, "task.uncancel")
        self.assertNotIn("cancel.scope", req)
        self.assertNotIn("cancel.scope", unc)
        self.assertIs(unc["uncancel.handoff"], False)
        self.assertEqual(a["task.final_state"], "completed")


class TaskGroupOwnerHandlesChildError(unittest.TestCase):
    def test_when_the_owner_handles_the_groups_error_with_except_star_then_the_groups_cancel_is_handed_back(self):
        path = write_program("""
            import asyncio

            async def failing():
                await asyncio.sleep(0.01)
                raise ConnectionError("upstream gone")

            async def owner(busy):
                try:
                    async with asyncio.TaskGroup() as tg:
                        tg.create_task(failing())
                        if busy:
                            await asyncio.sleep(5)  # the owner is in its body when the child fails
                except* ConnectionError:
                    result = "handled"
                return result

            async def main():
                print(await asyncio.create_task(owner(True), name="busy-owner"))
                print(await asyncio.create_task(owner(False), name="waiting-owner"))

            asyncio.run(main())
        """)
        proc, dump = run_recorded(path)
        self.assertEqual((proc.returncode, proc.stdout), (0, "handled\nhandled\n"), proc.stderr)
        for name in ("busy-owner", "waiting-owner"):
            span, a = dump.task(name)
            requests, uncancels = requests_and_uncancels(span)
            self.assertEqual(a["task.final_state"], "completed")
            self.assertEqual(len(requests), 1, name)
            # every cancel the group made is handed back by the same group (inferred on 3.11/3.12 when the
            # owner was already waiting in __aexit__, which skips the uncancel there)
            self.assertEqual([u["cancel.scope"] for _, u in uncancels], [requests[0][1]["cancel.scope"]], name)
            self.assertTrue(all(u["uncancel.handoff"] is True for _, u in uncancels), name)
            self.assertRegex(requests[0][1]["cancel.scope"], r"^asyncio\.taskgroups\.TaskGroup@")
            self.assertNotIn("task.swallow_site", a)


class SignalsOpenTheShutdown(unittest.TestCase):
    def run_until_ready_then(self, path, sig, settle_s=0.0):
        out = path + ".jsonl"
        with subprocess.Popen([sys.executable, "-m", "canceltrace", "--output", out, "--service", "unit", path],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_with_package()) as proc:
            try:
                first = proc.stdout.readline()
                time.sleep(settle_s)
                proc.send_signal(sig)
                stdout, stderr = proc.communicate(timeout=30)
            finally:
                proc.kill()
        self.assertEqual(first, "ready\n", stderr)
        return proc.returncode, first + stdout, stderr, Dump.load(out)

    def test_when_the_program_handles_sigterm_with_signal_signal_then_a_sigterm_shutdown_opens_and_drains(self):
        path = write_program("""
            import asyncio, signal

            async def worker():
                await asyncio.sleep(3600)

            async def main():
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                signal.signal(signal.SIGTERM, lambda *_: loop.call_soon_threadsafe(stop.set))  # as uvicorn does
                w = asyncio.create_task(worker(), name="worker")
                print("ready", flush=True)
                await stop.wait()
                await asyncio.sleep(0.2)  # the server stops accepting first
                w.cancel()
                await asyncio.gather(w, return_exceptions=True)
                print("drained")

            asyncio.run(main())
        """)
        code, stdout, stderr, dump = self.run_until_ready_then(path, signal.SIGTERM)
        self.assertEqual((code, stdout), (0, "ready\ndrained\n"), stderr)
        (span, sd), = dump.shutdowns()
        self.assertEqual((sd["shutdown.reason"], sd["shutdown.outcome"]), ("SIGTERM", "clean"))
        self.assertEqual(events(span, "tasks.pending")[-1][1]["tasks.pending.count"], "0")
        _, worker = dump.task("worker")
        self.assertEqual(worker["task.final_state"], "cancelled")
        _, main = dump.task("Task-1")
        self.assertIs(main["task.shutdown_driver"], True)

    def test_when_sigint_raises_the_default_keyboard_interrupt_then_a_sigint_shutdown_opens(self):
        path = write_program("""
            import asyncio

            async def worker():
                await asyncio.sleep(3600)

            loop = asyncio.new_event_loop()
            w = loop.create_task(worker(), name="worker")
            loop.call_soon(lambda: print("ready", flush=True))
            try:
                loop.run_forever()
            except KeyboardInterrupt:
                w.cancel()
                loop.run_until_complete(asyncio.gather(w, return_exceptions=True))
                print("interrupted")
            finally:
                loop.close()
        """)
        code, stdout, stderr, dump = self.run_until_ready_then(path, signal.SIGINT)
        self.assertEqual((code, stdout), (0, "ready\ninterrupted\n"), stderr)
        (_, sd), = dump.shutdowns()
        self.assertEqual((sd["shutdown.reason"], sd["shutdown.outcome"]), ("SIGINT", "clean"))
        _, worker = dump.task("worker")
        self.assertEqual(worker["task.final_state"], "cancelled")

    @unittest.skipUnless(sys.platform.startswith("linux"), "reads thread signal masks from /proc")
    def test_when_the_recorder_runs_its_threads_then_they_block_every_signal_so_the_main_thread_gets_them(self):
        # A process signal goes to any thread that does not block it; had it gone to one of ours, a loop
        # waiting in select() without a wakeup fd (run_forever above) would never have seen its Ctrl-C.
        path = write_program("""
            import asyncio, signal, threading

            def blocked(thread):
                with open("/proc/self/task/%d/status" % thread.native_id) as f:
                    mask = next(int(line.split()[1], 16) for line in f if line.startswith("SigBlk:"))
                return all(mask >> (s - 1) & 1 for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP))

            async def main():
                asyncio.create_task(asyncio.sleep(0), name="quick")
                await asyncio.sleep(0.1)  # its span is queued: the exporter thread runs
                signal.raise_signal(signal.SIGTERM)  # opens a shutdown: its sampler thread runs while it is open
                await asyncio.sleep(0.1)
                ours = sorted((t.name, blocked(t)) for t in threading.enumerate() if t.name.startswith("canceltrace-"))
                print(ours, blocked(threading.main_thread()))

            signal.signal(signal.SIGTERM, lambda *_: None)
            asyncio.run(main())
        """)
        proc, _ = run_recorded(path)
        self.assertEqual(proc.stdout.strip(), "[('canceltrace-exporter', True), ('canceltrace-sampler', True)] False", proc.stderr)

    def test_when_an_uncaught_keyboard_interrupt_ends_the_program_then_its_traceback_is_unchanged(self):
        path = write_program("""
            import os, signal, time
            print("ready", flush=True)
            time.sleep(30)
        """)
        with subprocess.Popen([sys.executable, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as plain:
            try:
                self.assertEqual(plain.stdout.readline(), "ready\n")
                time.sleep(SETTLE_S)
                plain.send_signal(signal.SIGINT)
                _, plain_err = plain.communicate(timeout=30)
            finally:
                plain.kill()
        code, _, stderr, _ = self.run_until_ready_then(path, signal.SIGINT, SETTLE_S)
        self.assertEqual((code, stderr), (plain.returncode, plain_err))


class ShutdownDrivers(unittest.TestCase):
    def test_when_a_task_cancels_the_others_during_a_shutdown_then_it_drives_it_and_is_not_pending(self):
        path = write_program("""
            import asyncio, signal, os

            async def worker():
                await asyncio.sleep(3600)

            async def stopper(workers):
                await asyncio.sleep(0.05)
                for w in workers:
                    w.cancel()
                await asyncio.gather(*workers, return_exceptions=True)

            async def main():
                workers = [asyncio.create_task(worker(), name="w%d" % i) for i in range(3)]
                asyncio.get_running_loop().add_signal_handler(
                    signal.SIGTERM, lambda: asyncio.create_task(stopper(workers), name="stopper"))
                await asyncio.sleep(0.01)
                os.kill(os.getpid(), signal.SIGTERM)
                await asyncio.sleep(0.5)

            asyncio.run(main())
        """)
        proc, dump = run_recorded(path)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        _, stopper = dump.task("stopper")
        self.assertIs(stopper["task.shutdown_driver"], True)
        (span, sd), = dump.shutdowns()
        self.assertEqual(sd["shutdown.reason"], "SIGTERM")
        counts = [int(a["tasks.pending.count"]) for _, a in events(span, "tasks.pending")]
        self.assertEqual(counts[-1], 0)


if __name__ == "__main__":
    unittest.main()

