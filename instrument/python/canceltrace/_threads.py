"""The recorder's own threads, started with every signal blocked.

A signal sent to the process goes to one of its threads that does not block it. When that is one of
ours, the program's main thread is not woken: an event loop waiting in select() with no wakeup fd (a
plain ``loop.run_forever()`` interrupted by Ctrl-C) would then sleep on and never see its
KeyboardInterrupt. The mask is set in the starting thread around ``start()`` (a new thread inherits
it), so there is no moment in which our thread can take a signal.
"""

import signal
import threading


def start_thread(target, name):
    """Starts a daemon thread running `target` that never receives a signal; returns it.

    Raises RuntimeError where ``Thread.start`` does (at interpreter shutdown, 3.12+)."""
    thread = threading.Thread(target=target, name=name, daemon=True)
    mask = getattr(signal, "pthread_sigmask", None)
    if mask is None:  # not a POSIX system: nothing to block
        thread.start()
        return thread
    previous = mask(signal.SIG_BLOCK, signal.valid_signals())
    try:
        thread.start()
    finally:
        mask(signal.SIG_SETMASK, previous)
    return thread
