"""P8: a loop that catches CancelledError and keeps looping.

On SIGTERM the service cancels its poller and drains; the poller swallows every cancel, so asyncio.run's
cancel-all phase waits for it forever. A watchdog ends the process 3 s after SIGTERM (os._exit), as a
supervisor would. Expected: `survivor` (exported by the snapshots), the shutdown's pending count never
falls to its baseline (`pending_not_at_baseline`), and the poller's current stack is shown.
Run it, wait for "ready", send SIGTERM.
"""
import asyncio
import os
import signal
import threading

WATCHDOG_S = 3.0


async def poller():
    while True:
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            pass  # P8: keeps looping


def start_watchdog():
    def expire():
        print("watchdog: shutdown did not finish, exiting", flush=True)
        os._exit(3)

    timer = threading.Timer(WATCHDOG_S, expire)
    timer.daemon = True
    timer.start()


async def main():
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: (start_watchdog(), stop.set()))
    task = asyncio.create_task(poller(), name="poller")
    print("ready", flush=True)
    await stop.wait()
    task.cancel()
    _, pending = await asyncio.wait({task}, timeout=0.5)
    print(f"main: {len(pending)} task(s) still running after the drain", flush=True)


asyncio.run(main())
