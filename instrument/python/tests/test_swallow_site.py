"""Where a swallowed cancellation stopped (issue 9): the last handler that did not re-raise, followed
across awaits."""

import unittest

from .helpers import line_of, run_recorded, write_program


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


if __name__ == "__main__":
    unittest.main()
