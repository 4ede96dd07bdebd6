"""H1: a process that hangs on shutdown (the P8 poller) and is killed by SIGKILL after a grace period.

On SIGTERM the main coroutine returns; asyncio.run's cancel-all phase waits forever for the poller that
swallows every cancel. Nothing runs at SIGKILL: what the collector has is what the recorder's periodic
snapshots exported before the kill. Expected: the shutdown (still open) and the `survivor` poller with
its stack. Run it, wait for "ready", send SIGTERM, then SIGKILL after ~2.5 s.
"""
import asyncio
import signal


async def poller():
    while True:
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            continue  # swallows every cancel


async def main():
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    asyncio.create_task(poller(), name="poller")
    print("ready", flush=True)
    await stop.wait()
    print("main: returning, asyncio.run will now wait for the poller", flush=True)


asyncio.run(main())
