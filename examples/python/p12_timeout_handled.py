"""P12: `asyncio.timeout()` expiring inside a task that handles it correctly.

The timeout cancels the task and hands the cancel back (uncancel from asyncio.timeout: a handoff);
the task turns the TimeoutError into a fallback value. Expected: not flagged (the cancel came from the
timeout and was handed back: verdict `finished`, no `uncancel_misuse`).
"""
import asyncio


async def slow_lookup():
    await asyncio.sleep(10)
    return "fresh"


async def lookup_with_deadline():
    try:
        async with asyncio.timeout(0.05):
            return await slow_lookup()
    except TimeoutError:
        return "cached"


async def main():
    task = asyncio.create_task(lookup_with_deadline(), name="lookup")
    print(f"main: lookup={await task}")


asyncio.run(main())
