"""The one error reporter of the recorder and the exporter: silent unless CANCELTRACE_DEBUG is set."""

import os
import sys


def report(msg, component="canceltrace"):
    """Writes `component: msg` to stderr when CANCELTRACE_DEBUG is set; never raises (the telemetry
    path must not throw into the program, not even while reporting its own failure)."""
    try:
        if os.environ.get("CANCELTRACE_DEBUG"):
            sys.stderr.write("%s: %s\n" % (component, msg))
    except Exception:
        pass
