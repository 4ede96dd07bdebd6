"""Zero-code mode leaves the program's behaviour alone: output, exit code, tracebacks, signals, argv."""

import os
import signal
import subprocess
import sys
import time
import unittest

from .helpers import env_with_package, run_plain, run_recorded, write_program


class SameBehaviour(unittest.TestCase):
    def test_when_a_program_exits_with_a_code_then_stdout_stderr_and_code_match_a_plain_run(self):
        path = write_program("""
            import asyncio, sys
            async def job():
                try:
                    await asyncio.sleep(10)
                except asyncio.CancelledError:
                    return
            async def main():
                t = asyncio.create_task(job())
                await asyncio.sleep(0.01)
                t.cancel()
                await t
                print("args", sys.argv[1:], "name", __name__, "file", __file__ == sys.argv[0])
                print("err line", file=sys.stderr)
            asyncio.run(main())
            sys.exit(3)
        """)
        plain = run_plain(path, ["a", "--b"])
        recorded, dump = run_recorded(path, ["a", "--b"])
        self.assertEqual(plain.returncode, 3)
        self.assertEqual((recorded.returncode, recorded.stdout, recorded.stderr),
                         (plain.returncode, plain.stdout, plain.stderr))
        self.assertTrue(dump.tasks(), "and it was recorded")

    def test_when_a_program_raises_then_the_traceback_and_exit_code_match_a_plain_run(self):
        path = write_program("""
            import asyncio
            async def main():
                raise RuntimeError("boom")
            asyncio.run(main())
        """)
        plain = run_plain(path)
        recorded, _ = run_recorded(path)
        self.assertEqual(plain.returncode, 1)
        self.assertEqual((recorded.returncode, recorded.stderr), (plain.returncode, plain.stderr))

    def test_when_sigterm_has_its_default_action_then_the_process_still_dies_by_sigterm(self):
        path = write_program("""
            import asyncio
            async def main():
                print("ready", flush=True)
                await asyncio.sleep(30)
            asyncio.run(main())
        """)
        out = path + ".jsonl"
        for cmd in ([sys.executable, path], [sys.executable, "-m", "canceltrace", "--output", out, path]):
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env_with_package())
            self.assertEqual(proc.stdout.readline().strip(), b"ready")
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
            proc.stdout.close()
            self.assertEqual(proc.returncode, -signal.SIGTERM, cmd)
            self.assertLess(time.monotonic() - started, 3)
        from .helpers import Dump

        (_, sd), = Dump.load(out).shutdowns()
        self.assertEqual(sd["shutdown.reason"], "SIGTERM")

    def test_when_ctrl_c_interrupts_asyncio_run_then_traceback_and_signal_exit_match_a_plain_run(self):
        path = write_program("""
            import asyncio
            async def main():
                print("ready", flush=True)
                await asyncio.sleep(30)
            asyncio.run(main())
        """)
        out = path + ".jsonl"
        results = []
        for cmd in ([sys.executable, path], [sys.executable, "-m", "canceltrace", "--output", out, path]):
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env_with_package())
            self.assertEqual(proc.stdout.readline().strip(), b"ready")
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=10)
            proc.stdout.close()
            results.append((proc.returncode, err.decode()))
        self.assertEqual(results[0][0], -signal.SIGINT)
        self.assertEqual(results[1], results[0])
        from .helpers import Dump

        reasons = [a["shutdown.reason"] for _, a in Dump.load(out).shutdowns()]
        self.assertEqual(reasons, ["SIGINT"])

    def test_when_run_with_dash_m_then_the_module_runs_as_main(self):
        path = write_program("""
            import asyncio
            async def main():
                print("module ran as", __name__)
            asyncio.run(main())
        """)
        module = os.path.splitext(os.path.basename(path))[0]
        env = env_with_package()
        env["PYTHONPATH"] = env["PYTHONPATH"] + os.pathsep + os.path.dirname(path)
        proc = subprocess.run([sys.executable, "-m", "canceltrace", "-m", module], capture_output=True, text=True,
                              env=env, timeout=30)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout, "module ran as __main__\n")

    def test_when_the_collector_is_unreachable_then_the_program_is_not_delayed(self):
        path = write_program("""
            import asyncio
            async def w():
                try:
                    await asyncio.sleep(10)
                except asyncio.CancelledError:
                    return
            async def main():
                asyncio.create_task(w())
                await asyncio.sleep(0.01)
            asyncio.run(main())
            print("done")
        """)
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "canceltrace", "--endpoint", "http://127.0.0.1:%d" % port, path],
                              capture_output=True, text=True, env=env_with_package(), timeout=30)
        self.assertEqual((proc.returncode, proc.stdout, proc.stderr), (0, "done\n", ""))
        self.assertLess(time.monotonic() - started, 4)

    def test_when_arguments_are_wrong_then_usage_is_printed_with_exit_2(self):
        proc = subprocess.run([sys.executable, "-m", "canceltrace", "--endpoint"], capture_output=True, text=True,
                              env=env_with_package(), timeout=30)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("usage:", proc.stderr)


if __name__ == "__main__":
    unittest.main()
