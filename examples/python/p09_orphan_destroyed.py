"""P9: a task nobody cancels, left pending when the loop closes.

The heartbeat is started and forgotten; the loop is closed with it pending and later collected.
Expected: `orphan` at the shutdown (loop close), then `destroyed`, with the loop's
"Task was destroyed but it is pending!" warning on the shutdown.
"""
import asyncio
import gc


async def heartbeat():
    while True:
        await asyncio.sleep(0.02)


async def serve():
    asyncio.get_running_loop().create_task(heartbeat(), name="heartbeat")
    await asyncio.sleep(0.1)
    print("serve: done")


def run_once():
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(serve())
    finally:
        loop.close()


run_once()
gc.collect()  # a long-running process collects the dropped loop sooner or later; here, now
print("main: exiting")
