"""P11: a TaskGroup child that swallows its cancel while a sibling fails.

The failing sibling makes the group cancel the other children; `flaky-cache` catches the cancel,
keeps the group waiting for its slow cleanup, and returns normally.
Expected: the child is `swallowed`; its parent (the group's owner) gets `group_blocked`.
"""
import asyncio


async def flaky_cache():
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        await asyncio.sleep(0.3)  # holds the group's teardown
        return "stale"


async def failing_fetch():
    await asyncio.sleep(0.05)
    raise ConnectionError("upstream reset")


async def handle_request():
    async with asyncio.TaskGroup() as group:
        group.create_task(flaky_cache(), name="flaky-cache")
        group.create_task(failing_fetch(), name="failing-fetch")


async def main():
    try:
        await asyncio.create_task(handle_request(), name="request")
    except* ConnectionError as eg:
        print(f"main: request failed: {eg.exceptions[0]}")


asyncio.run(main())
