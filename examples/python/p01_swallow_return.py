"""P1: a worker loop whose `except asyncio.CancelledError:` block returns.

asyncio.run's cancel-all phase cancels the worker; the `return` turns the cancellation into a normal
completion. Expected: the worker is `swallowed`, with the catch site (the `except` line below).
"""
import asyncio


async def worker(queue):
    handled = 0
    while True:
        try:
            item = await queue.get()
            handled += item
        except asyncio.CancelledError:  # P1: the cancellation is caught here ...
            print(f"worker: stopping after {handled}")
            return handled  # ... and turned into a normal return


async def main():
    queue = asyncio.Queue()
    asyncio.create_task(worker(queue), name="queue-worker")
    for i in range(3):
        await queue.put(i)
    await asyncio.sleep(0.1)
    print("main: done")


asyncio.run(main())
