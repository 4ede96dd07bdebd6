"""P5: a must-run flush in `finally` under `asyncio.shield()`, bounded by `asyncio.timeout(1.0)`.

The flush completes: the buffer reaches storage and the writer still ends cancelled.
Expected: `cancelled`, shield outcome `ok` (recorded without code changes).
"""
import asyncio

storage = []


async def flush(buffer):
    await asyncio.sleep(0.05)
    storage.extend(buffer)
    buffer.clear()


async def writer(buffer):
    try:
        while True:
            buffer.append(len(buffer))
            await asyncio.sleep(0.01)
    finally:
        try:
            async with asyncio.timeout(1.0):
                await asyncio.shield(flush(buffer))
        except TimeoutError:
            print("writer: flush timed out")


async def main():
    buffer = []
    task = asyncio.create_task(writer(buffer), name="writer")
    await asyncio.sleep(0.1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    print(f"main: writer cancelled={task.cancelled()} stored={len(storage) > 0} buffered={len(buffer)}")


asyncio.run(main())
