"""P4: `except CancelledError:` that logs, rolls back and re-raises.

Expected: `cancelled` (the narrow catch ends with `raise`).
"""
import asyncio


class Transaction:
    def __init__(self):
        self.state = "open"

    async def rollback(self):
        await asyncio.sleep(0)
        self.state = "rolled back"


async def import_rows(tx):
    try:
        while True:
            await asyncio.sleep(0.02)
    except asyncio.CancelledError:
        print("import: cancelled, rolling back")
        await tx.rollback()
        raise


async def main():
    tx = Transaction()
    task = asyncio.create_task(import_rows(tx), name="importer")
    await asyncio.sleep(0.1)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    print(f"main: importer cancelled={task.cancelled()} tx={tx.state}")


asyncio.run(main())
