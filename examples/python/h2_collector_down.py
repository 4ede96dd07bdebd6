"""H2: the collector is down while the app shuts down, then comes back.

A well-behaved service with a swallowing worker shuts down over ~2 s. Point it at a collector that is
down: the program's output, exit code and timing stay as without the recorder; the exporter retries in
the background, and what it buffered is sent when the collector comes back (or dropped and counted).
Expected: exit code 0 within a couple of seconds; once the collector is back, the `swallowed` worker.
"""
import asyncio


async def reporter():
    try:
        while True:
            await asyncio.sleep(0.05)
    except asyncio.CancelledError:
        await asyncio.sleep(1.5)  # a slow goodbye that keeps the process alive a while
        return "bye"


async def main():
    asyncio.create_task(reporter(), name="reporter")
    await asyncio.sleep(0.5)
    print("main: done", flush=True)


asyncio.run(main())
print("exited cleanly")
