"""P14: a connection pool where each swallowed cancel leaks one connection.

Request handlers take a connection per request; the leaky handler returns from
`except CancelledError` without giving it back. The pool's in-use count is a canceltrace gauge
(library mode: the only change to the program). Expected: the gauge does not return to idle
(`resource_not_released`); the leaky handlers are `swallowed`, the careful ones `cancelled`.
"""
import asyncio

try:
    import canceltrace
except ImportError:  # runs without canceltrace too
    canceltrace = None


class Pool:
    def __init__(self, size):
        self.size = size
        self.in_use = 0

    async def acquire(self):
        while self.in_use >= self.size:
            await asyncio.sleep(0.001)
        self.in_use += 1
        return object()

    def release(self, conn):
        self.in_use -= 1


pool = Pool(10)
if canceltrace is not None:
    canceltrace.gauge("db.pool.in_use", lambda: pool.in_use, baseline=0)


async def careful_handler():
    while True:
        conn = await pool.acquire()
        try:
            await asyncio.sleep(0.05)
        finally:
            pool.release(conn)


async def leaky_handler():
    while True:
        conn = await pool.acquire()
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            return  # P14: leaks `conn`
        pool.release(conn)


async def main():
    for i in range(3):
        asyncio.create_task(careful_handler(), name=f"careful-{i}")
        asyncio.create_task(leaky_handler(), name=f"leaky-{i}")
    await asyncio.sleep(0.12)
    print("main: done")


asyncio.run(main())
print(f"after shutdown: {pool.in_use} connection(s) still in use")
