"""One timed asyncio workload, run in its own process by run.py; prints one JSON line of seconds.

usage: python workload.py (finish|cancel) N (plain|recorded)
"""
import asyncio
import json
import os
import sys
import time

BATCH = 1000


async def noop():
    return None


async def sleeper():
    await asyncio.sleep(3600)


async def finish(n):
    """Create and finish n tasks, BATCH at a time."""
    loop = asyncio.get_running_loop()
    for _ in range(n // BATCH):
        await asyncio.gather(*[loop.create_task(noop()) for _ in range(BATCH)])


async def cancel(n):
    """Create n sleeping tasks, cancel them all and drain."""
    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(sleeper()) for _ in range(n)]
    await asyncio.sleep(0)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def main():
    kind, n, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if mode == "recorded":
        sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "instrument", "python"))
        import canceltrace

        canceltrace.install(output=os.devnull, service_name="bench", handle_sigterm=False)
    work = finish if kind == "finish" else cancel

    async def timed():
        start = time.perf_counter()
        await work(n)
        return time.perf_counter() - start

    elapsed = asyncio.run(timed())
    flush_s = 0.0
    if mode == "recorded":
        start = time.perf_counter()
        canceltrace.flush(30)
        flush_s = time.perf_counter() - start
    print(json.dumps({"elapsed": elapsed, "flush": flush_s}))


if __name__ == "__main__":
    main()
