"""P10: `uncancel()` called without a matching `cancelling()` increment, then a normal return.

Expected: `swallowed` with finding `uncancel_misuse`.
"""
import asyncio


async def fetch_page():
    try:
        await asyncio.sleep(10)
        return "page"
    except asyncio.CancelledError:
        asyncio.current_task().uncancel()  # P10: "absorbs" the cancel
        return "partial page"


async def main():
    task = asyncio.create_task(fetch_page(), name="fetch-page")
    await asyncio.sleep(0.05)
    task.cancel()
    print(f"main: result={await task!r} cancelled={task.cancelled()}")


asyncio.run(main())
