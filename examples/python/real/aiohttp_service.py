"""An aiohttp service under `web.run_app`: SIGTERM through aiohttp's own signal handling.

A cleanup context starts a `metrics-flusher` background task and, at shutdown, cancels it and waits for
it. Once the server listens, the program fetches its own endpoint once with aiohttp's client (bounded
by `asyncio.timeout`, which expires on a slow route and is handled), prints `ready` and waits for
SIGTERM.

Expected: a `SIGTERM` shutdown, outcome `clean`; `metrics-flusher` `cancelled`; the timed-out client
call `finished`; no `orphan`.
"""
import asyncio
import contextlib
import socket

from aiohttp import ClientSession, web


async def slow(request):
    await asyncio.sleep(5)
    return web.Response(text="late")


async def flusher():
    while True:
        await asyncio.sleep(0.05)


async def background(app):
    task = asyncio.create_task(flusher(), name="metrics-flusher")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    print("cleanup: flusher stopped", flush=True)


async def probe(app):
    port = app["port"]
    async with ClientSession() as session:
        try:
            async with asyncio.timeout(0.1):
                await session.get(f"http://127.0.0.1:{port}/slow")
        except TimeoutError:
            print("probe: timed out", flush=True)
    print("ready", flush=True)


async def on_startup(app):
    app["probe"] = asyncio.create_task(probe(app), name="probe")


def main():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    app = web.Application()
    app["port"] = sock.getsockname()[1]
    app.router.add_get("/slow", slow)
    app.cleanup_ctx.append(background)
    app.on_startup.append(on_startup)
    web.run_app(app, sock=sock, print=None, shutdown_timeout=1.0)
    print("stopped", flush=True)


if __name__ == "__main__":
    main()
