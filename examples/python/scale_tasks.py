"""Scale: N well-behaved workers (default 20,000) cancelled together when asyncio.run's main returns.

    python scale_tasks.py [N]

Expected: N tasks `cancelled` in one `main_returned` shutdown, outcome `clean`, nothing dropped
(`canceltrace.spans_dropped` = 0), the shutdown's final span received (not left open).
"""
import asyncio
import sys

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000


async def worker(i, started):
    started.append(i)
    try:
        await asyncio.sleep(3600)
    finally:
        started.pop()


async def main():
    started = []
    for i in range(N):
        asyncio.create_task(worker(i, started), name=f"worker-{i}")
    while len(started) < N:
        await asyncio.sleep(0.01)
    print(f"{N} workers started")


asyncio.run(main())
