"""P15: a clean shutdown of 1,000 well-behaved workers.

On SIGTERM the main coroutine returns and asyncio.run cancels every worker; each one cleans up in
`finally` and lets the cancellation propagate. Expected: every worker `cancelled`, outcome `clean`,
the pending count falls to 0. Run it, wait for "ready", send SIGTERM.
"""
import asyncio
import signal

WORKERS = 1000


async def worker(i, done):
    try:
        while True:
            await asyncio.sleep(0.05 + (i % 10) / 1000)
    finally:
        done.append(i)


async def main():
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    done = []
    for i in range(WORKERS):
        asyncio.create_task(worker(i, done), name=f"worker-{i}")
    print("ready", flush=True)
    await stop.wait()
    print("main: stopping", flush=True)


asyncio.run(main())
