"""Zero-code mode leaves the program's behaviour alone: output, exit code, tracebacks, signals, argv."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
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
        self.assertEqual((proc.returncode, proc.stdout), (0, "done\n"))
        # one line says what was lost and why, never a traceback
        self.assertRegex(proc.stderr, r"^canceltrace: \d+ span\(s\) not delivered: the collector at http://127\.0\.0\.1:%d"
                                      r"/v1/traces could not be reached \([^\n]*\)\n$" % port)
        self.assertLess(time.monotonic() - started, 4)

    def _both(self, args, cwd, env=None):
        """(returncode, stdout, stderr) of `python ARGS` and `python -m canceltrace ARGS` run from `cwd`."""
        results = []
        for prefix in ([sys.executable], [sys.executable, "-m", "canceltrace"]):
            proc = subprocess.run(prefix + list(args), capture_output=True, text=True, cwd=cwd,
                                  env=env_with_package(env), timeout=30)
            results.append((proc.returncode, proc.stdout, proc.stderr))
        return results

    def test_when_the_script_path_is_relative_then_file_traceback_and_main_module_match_a_plain_run(self):
        folder = tempfile.mkdtemp(prefix="ct_rel_")
        with open(os.path.join(folder, "sibling_mod.py"), "w") as f:
            f.write("VALUE = 'sibling'\n")
        with open(os.path.join(folder, "app.py"), "w") as f:
            f.write(textwrap.dedent("""
                import atexit, asyncio, sys, sibling_mod
                print(__file__, sys.path[0], sys.argv, sibling_mod.VALUE)
                print(sorted(globals()), type(__builtins__).__name__, type(__loader__).__name__, __package__)
                state = "kept"
                def at_end():
                    import __main__
                    print("atexit sees", __main__.state, __main__.__dict__ is globals(), flush=True)
                atexit.register(at_end)
                async def main():
                    raise ValueError("boom")
                asyncio.run(main())
            """))
        os.symlink(os.path.join(folder, "app.py"), os.path.join(folder, "link.py"))
        elsewhere = tempfile.mkdtemp(prefix="ct_cwd_")
        for target in ("./app.py", os.path.join(os.path.relpath(folder, elsewhere), "link.py")):
            cwd = folder if target == "./app.py" else elsewhere
            plain, recorded = self._both([target, "x"], cwd)
            self.assertEqual(plain[0], 1, plain[2])
            self.assertIn("atexit sees kept True", plain[1])
            self.assertEqual(recorded, plain, target)

    def test_when_run_with_dash_m_then_traceback_and_missing_module_error_match_a_plain_run(self):
        folder = tempfile.mkdtemp(prefix="ct_pkg_")
        os.makedirs(os.path.join(folder, "ctpkg"))
        with open(os.path.join(folder, "ctpkg", "__init__.py"), "w") as f:
            f.write("")
        with open(os.path.join(folder, "ctpkg", "util.py"), "w") as f:
            f.write("X = 1\n")
        with open(os.path.join(folder, "ctpkg", "app.py"), "w") as f:
            f.write("import sys\nfrom .util import X\nprint(sys.argv, sys.path[0], __name__, __package__, X)\n"
                    "raise RuntimeError('from a module')\n")
        for args in (["-m", "ctpkg.app", "a"], ["-m", "ctpkg.missing"], ["missing_script.py"]):
            plain, recorded = self._both(args, folder)
            self.assertNotEqual(plain[0], 0)
            self.assertEqual(recorded, plain, args)

    def test_when_the_program_inspects_or_resets_sigterm_then_it_sees_the_default_action_and_still_dies_by_it(self):
        path = write_program("""
            import os, signal, sys
            print(signal.getsignal(signal.SIGTERM))
            def mine(*args):
                pass
            old = signal.signal(signal.SIGTERM, mine)
            print(old, signal.signal(signal.SIGTERM, old) is mine, signal.getsignal(signal.SIGTERM) == signal.SIG_DFL)
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGTERM)
            signal.pause()
        """)
        plain, recorded = self._both([path], os.path.dirname(path))
        self.assertEqual(plain, (-signal.SIGTERM, "0\n0 True True\n", ""))
        self.assertEqual(recorded, plain)

    def test_when_arguments_are_wrong_then_usage_is_printed_with_exit_2(self):
        proc = subprocess.run([sys.executable, "-m", "canceltrace", "--endpoint"], capture_output=True, text=True,
                              env=env_with_package(), timeout=30)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("usage:", proc.stderr)


if __name__ == "__main__":
    unittest.main()


class OutputFile(unittest.TestCase):
    def test_when_output_names_an_existing_file_then_the_run_appends_to_it_and_help_says_so(self):
        path = write_program("""
            import asyncio
            async def main():
                t = asyncio.create_task(asyncio.sleep(10), name="cancelled-once")
                await asyncio.sleep(0)
                t.cancel()
            asyncio.run(main())
        """)
        out = path + ".jsonl"
        for _ in range(2):
            subprocess.run([sys.executable, "-m", "canceltrace", "--output", out, path], check=True,
                           capture_output=True, env=env_with_package(), timeout=30)
        with open(out) as f:
            names = [s["name"] for line in f for s in json.loads(line)["resourceSpans"][0]["scopeSpans"][0]["spans"]]
        self.assertEqual(names.count("cancelled-once"), 2, "the second run appended, the first is still there")
        usage = subprocess.run([sys.executable, "-m", "canceltrace", "--help"], capture_output=True, text=True,
                               env=env_with_package(), timeout=30)
        self.assertEqual(usage.returncode, 0)
        self.assertIn("appends to an", usage.stdout)
