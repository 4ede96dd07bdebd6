"""Where a swallowed cancellation stopped (issue 9): the last handler that did not re-raise, followed
across awaits, and the Python frame that called into compiled code that absorbed it."""

import os
import shlex
import shutil
import subprocess
import sysconfig
import tempfile
import unittest

from .helpers import events, line_of, run_recorded, write_program

CEXT_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cext", "absorb.c")
ABSORBED_NOTE = "absorbed in compiled library code called from here"


def build_absorb_extension(out_dir):
    """Compiles tests/cext/absorb.c for the running interpreter into `out_dir`. Raises AssertionError (the
    test fails, it is not skipped) when no C compiler works."""
    cc = shlex.split(sysconfig.get_config_var("CC") or "") or [shutil.which("gcc") or shutil.which("cc") or "gcc"]
    if shutil.which(cc[0]) is None:
        raise AssertionError("no C compiler (%r): install gcc to build the test extension %s" % (cc[0], CEXT_SOURCE))
    paths = sysconfig.get_paths()
    target = os.path.join(out_dir, "absorb" + sysconfig.get_config_var("EXT_SUFFIX"))
    cmd = [*cc, "-shared", "-fPIC", "-O0", "-I", paths["include"], "-I", paths["platinclude"], CEXT_SOURCE,
           "-o", target]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError("cannot build the test extension: %s\n%s" % (" ".join(cmd), proc.stderr))


class SwallowSiteWherePropagationStopped(unittest.TestCase):
    def site(self, path, function, marker):
        return "%s:%d in %s" % (path, line_of(path, marker), function)

    def test_when_a_library_handler_cleans_up_awaits_and_re_raises_then_the_site_is_the_users_handler_above(self):
        path = write_program("""
            import asyncio, sys

            async def library_call():
                try:
                    await asyncio.sleep(10)
                except BaseException:  # LIBRARY: cleans up, then re-raises
                    await asyncio.sleep(0.01)
                    raise

            async def worker():
                try:
                    await library_call()
                except BaseException:  # USER: stops the propagation
                    return "eaten"

            async def main():
                t = asyncio.create_task(worker(), name="worker")
                await asyncio.sleep(0.01)
                t.cancel()
                print(await t)
                await asyncio.sleep(0)
                print("traced after:", sys.gettrace() is not None)  # 3.11: the following ended with the task

            asyncio.run(main())
        """)
        proc, dump = run_recorded(path)
        self.assertEqual((proc.returncode, proc.stdout), (0, "eaten\ntraced after: False\n"), proc.stderr)
        _, a = dump.task("worker")
        self.assertEqual(a["task.swallow_site"], self.site(path, "worker", "# USER"))

    def test_when_a_user_handler_awaits_and_re_raises_and_an_outer_one_eats_it_then_the_site_is_the_outer_one(self):
        path = write_program("""
            import asyncio

            async def step():
                try:
                    await asyncio.sleep(10)
                except asyncio.CancelledError:  # INNER: logs, awaits, re-raises
                    await asyncio.sleep(0)
                    await asyncio.sleep(0.01)
                    raise

            async def middle():
                await step()

            async def worker():
                try:
                    await middle()
                except asyncio.CancelledError:  # OUTER: eats it
                    pass
                return "eaten"

            async def main():
                t = asyncio.create_task(worker(), name="worker")
                await asyncio.sleep(0.01)
                t.cancel()
                print(await t)

            asyncio.run(main())
        """)
        proc, dump = run_recorded(path)
        self.assertEqual((proc.returncode, proc.stdout), (0, "eaten\n"), proc.stderr)
        _, a = dump.task("worker")
        self.assertEqual(a["task.swallow_site"], self.site(path, "worker", "# OUTER"))

    def test_when_a_library_handler_awaits_and_then_eats_it_then_the_site_is_the_librarys_handler(self):
        path = write_program("""
            import asyncio, sys

            async def library_call():
                try:
                    await asyncio.sleep(10)
                except BaseException:  # LIBRARY: cleans up and does not re-raise
                    await asyncio.sleep(0.01)
                return "cleaned"

            async def worker():
                try:
                    result = await library_call()
                except BaseException:  # USER: never reached
                    return "user"
                await asyncio.sleep(0.01)
                print("traced after the handler:", sys.gettrace() is not None)  # 3.11: its frame is done
                return result

            async def main():
                t = asyncio.create_task(worker(), name="worker")
                await asyncio.sleep(0.01)
                t.cancel()
                print(await t)

            asyncio.run(main())
        """)
        proc, dump = run_recorded(path)
        self.assertEqual((proc.returncode, proc.stdout), (0, "traced after the handler: False\ncleaned\n"), proc.stderr)
        _, a = dump.task("worker")
        self.assertEqual(a["task.swallow_site"], self.site(path, "library_call", "# LIBRARY"))


class SwallowSiteInCompiledCode(unittest.TestCase):
    def test_when_compiled_code_absorbs_the_cancel_then_the_site_is_the_python_frame_that_awaited_it(self):
        cext_dir = tempfile.mkdtemp(prefix="ct_cext_")
        self.addCleanup(shutil.rmtree, cext_dir, ignore_errors=True)
        build_absorb_extension(cext_dir)
        path = write_program("""
            import asyncio, sys
            sys.path.insert(0, %r)
            import absorb

            async def fetch():
                got = await absorb.Absorb(asyncio.sleep(10))  # AWAIT: the C awaitable eats the cancel
                return got

            async def worker():
                return await fetch()

            async def main():
                t = asyncio.create_task(worker(), name="worker")
                await asyncio.sleep(0.01)
                t.cancel()
                print(await t)

            asyncio.run(main())
        """ % cext_dir)
        proc, dump = run_recorded(path)
        self.assertEqual((proc.returncode, proc.stdout), (0, "absorbed\n"), proc.stderr)
        span, a = dump.task("worker")
        site = "%s:%d in fetch" % (path, line_of(path, "# AWAIT"))
        self.assertEqual(a["task.swallow_site"], site)
        (_, exc), = events(span, "exception")
        self.assertIn('caught at: File "%s", line %d, in fetch (%s)' % (path, line_of(path, "# AWAIT"), ABSORBED_NOTE),
                      exc["exception.stacktrace"])
        self.assertEqual(exc["exception.message"], "cancellation caught at %s and not re-raised" % site)

    def test_when_compiled_code_drops_the_cancel_that_came_back_out_of_a_python_coroutine_then_the_site_is_the_frame_that_awaited_it(self):
        # The CancelledError goes through the C awaitable into a coroutine of the program, unwinds out of
        # it, and the C code drops it: the site is not that coroutine (it did not stop it) but the frame
        # that called into the compiled code.
        cext_dir = tempfile.mkdtemp(prefix="ct_cext_")
        self.addCleanup(shutil.rmtree, cext_dir, ignore_errors=True)
        build_absorb_extension(cext_dir)
        path = write_program("""
            import asyncio, sys
            sys.path.insert(0, %r)
            import absorb

            async def inner():
                await asyncio.sleep(10)  # INNER: the cancel passes through here

            async def fetch():
                got = await absorb.Absorb(inner(), True)  # AWAIT: the C awaitable drops it on the way back
                return got

            async def worker():
                return await fetch()

            async def main():
                t = asyncio.create_task(worker(), name="worker")
                await asyncio.sleep(0.01)
                t.cancel()
                print(await t)

            asyncio.run(main())
        """ % cext_dir)
        proc, dump = run_recorded(path)
        self.assertEqual((proc.returncode, proc.stdout), (0, "absorbed\n"), proc.stderr)
        span, a = dump.task("worker")
        self.assertEqual(a["task.swallow_site"], "%s:%d in fetch" % (path, line_of(path, "# AWAIT")))
        (_, exc), = events(span, "exception")
        self.assertIn("(%s)" % ABSORBED_NOTE, exc["exception.stacktrace"])

    def test_when_user_code_uncancels_before_the_cancel_is_delivered_then_no_compiled_code_is_blamed(self):
        # 3.13's uncancel() takes back a cancel not yet delivered (3.11 and 3.12 still deliver it): the task
        # completes with its cancel open and no Python frame ever saw a CancelledError, as when compiled code
        # absorbs one, but nothing absorbed it.
        path = write_program("""
            import asyncio

            async def work():
                await asyncio.sleep(0.01)
                return "done"

            async def main():
                t = asyncio.create_task(work(), name="worker")
                t.cancel()
                t.uncancel()  # before the task ever ran
                try:
                    print(await t)
                except asyncio.CancelledError:
                    print("cancelled")

            asyncio.run(main())
        """)
        proc, dump = run_recorded(path)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn(proc.stdout, ("done\n", "cancelled\n"))
        span, a = dump.task("worker")
        self.assertEqual(a["task.final_state"], "completed" if proc.stdout == "done\n" else "cancelled")
        for _, exc in events(span, "exception"):
            self.assertNotIn(ABSORBED_NOTE, exc["exception.stacktrace"])


if __name__ == "__main__":
    unittest.main()
