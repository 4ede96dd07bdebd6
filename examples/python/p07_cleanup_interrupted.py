"""P7: an unshielded await in `finally`, re-cancelled by a deadline-driven shutdown.

On SIGTERM the service cancels its uploader and gives it 0.2 s; the uploader's final upload takes
longer and is not shielded, so the second cancel interrupts it: the upload never completes.
Expected: `cancelled` with finding `cleanup_interrupted` (cleanup outcome `cancelled`).
Run it, wait for "ready", send SIGTERM.
"""
import asyncio
import signal

DRAIN_DEADLINE_S = 0.2


async def upload_rest(pending):
    await asyncio.sleep(1.0)
    pending.clear()


async def uploader(pending):
    try:
        while True:
            pending.append("chunk")
            await asyncio.sleep(0.02)
    finally:
        async with asyncio.timeout(5.0):  # bounded, but not shielded
            await upload_rest(pending)


async def main():
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    pending = []
    task = asyncio.create_task(uploader(pending), name="uploader")
    print("ready", flush=True)
    await stop.wait()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=DRAIN_DEADLINE_S)
    if not done:
        task.cancel()  # the deadline passed: cancel again
        await asyncio.gather(task, return_exceptions=True)
    print(f"main: uploader cancelled={task.cancelled()} chunks lost={len(pending)}")


asyncio.run(main())
