"""P3: `try/finally` cleanup, no except.

The finally closes the connection (bounded by asyncio.timeout, recorded as a cleanup) and the
CancelledError keeps propagating. Expected: `cancelled`, cleanup outcome `ok`.
"""
import asyncio


class Connection:
    def __init__(self):
        self.closed = False

    async def close(self):
        await asyncio.sleep(0.01)
        self.closed = True


async def session(conn):
    try:
        while True:
            await asyncio.sleep(0.02)
    finally:
        async with asyncio.timeout(0.5):
            await conn.close()
        print(f"session: connection closed={conn.closed}")


async def main():
    asyncio.create_task(session(Connection()), name="session")
    await asyncio.sleep(0.1)
    print("main: done")


asyncio.run(main())
