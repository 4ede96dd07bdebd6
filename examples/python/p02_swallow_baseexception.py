"""P2: the same worker with `except BaseException:` and no re-raise.

Expected: `swallowed` (the broad handler eats CancelledError along with everything else).
"""
import asyncio


async def poll(source):
    while True:
        try:
            await asyncio.sleep(0.02)
            source.append(len(source))
        except BaseException as exc:  # P2: also catches CancelledError
            print(f"poller: giving up ({type(exc).__name__})")
            break
    return len(source)


async def main():
    asyncio.create_task(poll([]), name="poller")
    await asyncio.sleep(0.1)
    print("main: done")


asyncio.run(main())
