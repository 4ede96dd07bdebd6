"""P6: P5 with a flush that hangs.

The bound gives up after 0.3 s, the writer still ends cancelled and the drain ends.
Expected: `cancelled`, finding `cleanup_timeout` (shield and cleanup outcome `timeout`).
"""
import asyncio

FLUSH_BOUND_S = 0.3


async def flush_to_dead_storage(never):
    await never.wait()  # the storage never answers


async def writer(never):
    try:
        while True:
            await asyncio.sleep(0.01)
    finally:
        try:
            async with asyncio.timeout(FLUSH_BOUND_S):
                await asyncio.shield(flush_to_dead_storage(never))
        except TimeoutError:
            print("writer: flush gave up after its bound")


async def main():
    never = asyncio.Event()
    task = asyncio.create_task(writer(never), name="writer")
    await asyncio.sleep(0.1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    print(f"main: writer cancelled={task.cancelled()}")


asyncio.run(main())
