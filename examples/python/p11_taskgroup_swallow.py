"""P11: a TaskGroup child that swallows its cancel while a sibling fails.

A request runs two children in a TaskGroup. On SIGTERM the service closes its upstream connections:
the in-flight fetch fails, so the group cancels the other child; `flaky-cache` catches that cancel,
holds the group's teardown with a slow cleanup, and returns normally.
Expected: the child is `swallowed`; the request task (the group's owner) gets `group_blocked`.
Run it, wait for "ready", send SIGTERM.
"""
import asyncio
import signal


async def flaky_cache():
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        await asyncio.sleep(0.3)  # holds the group's teardown
        return "stale"


async def fetch(upstream_closed):
    await upstream_closed.wait()
    raise ConnectionError("upstream closed during shutdown")


async def handle_request(upstream_closed):
    async with asyncio.TaskGroup() as group:
        group.create_task(flaky_cache(), name="flaky-cache")
        group.create_task(fetch(upstream_closed), name="fetch")


async def main():
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    request = asyncio.create_task(handle_request(stop), name="request")
    print("ready", flush=True)
    await stop.wait()
    try:
        await request
    except* ConnectionError as eg:
        print(f"main: request failed: {eg.exceptions[0]}")


asyncio.run(main())
