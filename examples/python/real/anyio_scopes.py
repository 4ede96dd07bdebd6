"""Cancel scopes of other libraries (anyio 4 on asyncio, httpx on anyio): handled timeouts, and one swallow.

Four tasks time out inside a library's own cancel scope and handle it: anyio's `move_on_after`,
`fail_after`, a `CancelScope` cancelled by its own task, and an httpx request whose read times out
(httpcore runs it under `anyio.fail_after`). Each scope cancels its task and hands the cancel back
with `uncancel()` when it exits: correct code. A fifth task, `poller`, polls three times under
`move_on_after`, then idles; when asyncio.run cancels it at the end, it catches the cancellation and
returns. (It idles outside any scope: on Python 3.11 a scope whose own deadline fires together with the
shutdown's cancel can absorb both, and asyncio.run then waits for the poller forever.)

Expected: `mover`, `failer`, `self-cancel`, `http-client` are `finished` with no finding;
`poller` is `swallowed` (the shutdown's cancel, absorbed by the task) in a `main_returned` shutdown.
"""
import asyncio

import anyio
import httpx


async def mover():
    with anyio.move_on_after(0.05) as scope:
        await anyio.sleep(10)
    return "moved on" if scope.cancelled_caught else "finished"


async def failer():
    try:
        with anyio.fail_after(0.05):
            await anyio.sleep(10)
    except TimeoutError:
        return "timed out"
    return "finished"


async def self_cancel():
    with anyio.CancelScope() as scope:
        scope.cancel()
        await anyio.sleep(10)
    return "scope cancelled" if scope.cancelled_caught else "finished"


def slow_server(done):
    async def serve(reader, writer):
        await reader.read(1024)
        await done.wait()  # never answers within the client's timeout
        writer.close()

    return serve


async def http_client(port):
    async with httpx.AsyncClient(timeout=httpx.Timeout(0.2)) as client:
        try:
            await client.get(f"http://127.0.0.1:{port}/slow")
        except httpx.ReadTimeout:
            return "read timeout"
    return "answered"


async def poller(ticks):
    try:
        for _ in range(3):
            with anyio.move_on_after(0.01):
                await anyio.sleep(1)
            ticks.append(1)
        await anyio.sleep(3600)  # idle, outside any scope, when asyncio.run cancels it
    except anyio.get_cancelled_exc_class():  # SWALLOW: the shutdown's cancel ends here
        return "stopped"


async def main():
    done = asyncio.Event()
    server = await asyncio.start_server(slow_server(done), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    ticks = []
    asyncio.create_task(poller(ticks), name="poller")
    results = await asyncio.gather(
        asyncio.create_task(mover(), name="mover"),
        asyncio.create_task(failer(), name="failer"),
        asyncio.create_task(self_cancel(), name="self-cancel"),
        asyncio.create_task(http_client(port), name="http-client"),
    )
    while len(ticks) < 3:
        await asyncio.sleep(0.01)
    done.set()
    server.close()
    await server.wait_closed()
    print("results:", ", ".join(results))


asyncio.run(main())
