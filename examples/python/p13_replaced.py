"""P13: cleanup that raises a different exception on the cancel path.

The release fails while the task is being cancelled, and its RuntimeError replaces the CancelledError.
Expected: `replaced`.
"""
import asyncio


async def release(lease):
    await asyncio.sleep(0)
    raise RuntimeError(f"lease {lease} already expired")


async def hold_lease(lease):
    try:
        while True:
            await asyncio.sleep(0.02)
    finally:
        await release(lease)


async def main():
    task = asyncio.create_task(hold_lease("L-7"), name="lease-holder")
    await asyncio.sleep(0.1)
    task.cancel()
    results = await asyncio.gather(task, return_exceptions=True)
    print(f"main: lease-holder ended with {type(results[0]).__name__}")


asyncio.run(main())
