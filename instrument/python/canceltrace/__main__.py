"""Zero-code mode: ``python -m canceltrace [options] script.py [args...]`` or ``... -m module [args...]``.

The program runs as if started with ``python script.py``: same sys.argv, sys.path[0], __main__ module,
exit code, signals and output; an uncaught exception prints the same traceback (our frames removed).
"""

import builtins
import io
import os
import runpy
import signal
import sys
import types

USAGE = """usage: python -m canceltrace [--endpoint URL] [--service NAME] [--output FILE] [--all-tasks]
                              (script.py | -m module) [args...]

  --endpoint URL   OTLP/HTTP endpoint (default: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT)
  --service NAME   service.name (default: OTEL_SERVICE_NAME)
  --output FILE    also write OTLP JSON lines to FILE (one export request per line); appends to an
                   existing FILE, never replaces it (remove it first for a fresh dump)
  --all-tasks      export every task, not only cancelled, failed and shutdown-time ones
"""


def parse_args(argv):
    """Splits our options from the program's command line; returns (options, kind, target, program_args)."""
    opts = {"endpoint": None, "service": None, "output": None, "all": False}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-h", "--help"):
            return None
        if arg == "--all-tasks":
            opts["all"] = True
            i += 1
            continue
        for key in ("endpoint", "service", "output"):
            flag = "--" + key
            if arg == flag:
                if i + 1 >= len(argv):
                    return None
                opts[key] = argv[i + 1]
                i += 2
                break
            if arg.startswith(flag + "="):
                opts[key] = arg[len(flag) + 1:]
                i += 1
                break
        else:
            if arg == "-m":
                if i + 1 >= len(argv):
                    return None
                return opts, "module", argv[i + 1], argv[i + 2:]
            if arg.startswith("-") and arg != "-":
                return None
            return opts, "script", arg, argv[i + 1:]
    return None


_OWN_DIR = os.path.dirname(os.path.abspath(__file__))


def _trim(tb):
    """Drops the traceback entries that belong to canceltrace: the leading ones (runpy's stay: plain `-m`
    shows them too) and those of its signal handler wrappers, which plain Python does not have."""
    kept = []
    while tb is not None:
        if not tb.tb_frame.f_code.co_filename.startswith(_OWN_DIR):
            kept.append(tb)
        tb = tb.tb_next
    for a, b in zip(kept, kept[1:]):
        a.tb_next = b
    if kept:
        kept[-1].tb_next = None
    return kept[0] if kept else None


def _script_path(target):
    """The script's path as CPython spells it for __file__ and tracebacks: the current directory joined
    to a relative path without normalising it (`python ./app.py` gives `/cwd/./app.py`)."""
    if os.path.isabs(target):
        return target
    return os.getcwd() + os.sep + target


def _run_script(target):
    """Runs a script file the way `python script.py` does: a fresh, permanent __main__ module (so the
    program's globals outlive it for atexit handlers and pickling), absolute __file__, the script's real
    directory as sys.path[0]. Directories and zip files go through runpy, as CPython does for them."""
    if not sys.flags.safe_path:
        sys.path[0] = os.path.dirname(os.path.realpath(target))
    if os.path.isdir(target) or _is_zip(target):
        if not sys.flags.safe_path:
            sys.path[0] = target
        sys.argv = [target] + sys.argv[1:]
        runpy._run_module_as_main("__main__", alter_argv=False)
        return
    path = _script_path(target)
    try:
        with io.open_code(path) as f:
            source = f.read()
    except OSError as e:
        sys.stderr.write("%s: can't open file %r: [Errno %d] %s\n" % (sys.executable, path, e.errno, e.strerror))
        raise SystemExit(2)
    import importlib.machinery
    import pkgutil

    module = types.ModuleType("__main__")
    module.__dict__.update(__annotations__={}, __file__=path, __cached__=None, __package__=None, __spec__=None, __builtins__=builtins,
                           __loader__=importlib.machinery.SourceFileLoader("__main__", path))
    if path.endswith(".pyc"):
        with io.open_code(path) as f:
            code = pkgutil.read_code(f)
        module.__loader__ = importlib.machinery.SourcelessFileLoader("__main__", path)
    else:
        code = compile(source, path, "exec", dont_inherit=True)
    sys.modules["__main__"] = module
    exec(code, module.__dict__)


def _is_zip(path):
    try:
        import zipfile

        return zipfile.is_zipfile(path)
    except Exception:
        return False


def main(argv=None):
    """Runs the program under the recorder."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] in (["-h"], ["--help"]):
        sys.stdout.write(USAGE)
        return 0
    parsed = parse_args(args)
    if parsed is None:
        sys.stderr.write(USAGE)
        return 2
    opts, kind, target, args = parsed
    import canceltrace

    canceltrace.install(endpoint=opts["endpoint"], service_name=opts["service"], output=opts["output"],
                        export_all=True if opts["all"] else None)
    try:
        sys.argv = [target] + args
        if kind == "script":
            _run_script(target)
        else:
            # exactly what `python -m module` runs: same __main__, argv[0], errors and traceback frames
            runpy._run_module_as_main(target, alter_argv=True)
    except SystemExit:
        raise
    except KeyboardInterrupt as e:
        _print_uncaught(e)
        _exit_like_python_on_sigint()
    except BaseException as e:
        _print_uncaught(e)
        return 1
    return 0


def _print_uncaught(exc):
    """Prints the traceback Python would print for the program alone (the display reads __traceback__)."""
    tb = _trim(exc.__traceback__)
    exc.__traceback__ = tb
    sys.excepthook(type(exc), exc, tb)


def _exit_like_python_on_sigint():
    """An uncaught KeyboardInterrupt ends CPython by SIGINT after its exit handlers; do the same."""
    import atexit

    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        pass
    atexit._run_exitfuncs()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)


if __name__ == "__main__":
    sys.exit(main())
