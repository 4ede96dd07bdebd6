"""A Starlette service under uvicorn: SIGTERM through uvicorn's own `signal.signal` handlers.

At start-up the lifespan starts a `cache-refresher` worker; once the server listens, the program
fetches its streaming endpoint once with httpx (Starlette streams under an anyio task group that
cancels itself when the body is done, and hands that cancel back), then prints `ready` and waits for
SIGTERM. uvicorn catches the signal with `signal.signal` (not `loop.add_signal_handler`), stops
serving, and runs the lifespan shutdown, which cancels the worker and waits for it.

    python uvicorn_service.py clean   # the worker re-raises: the shutdown drains, uvicorn re-raises SIGTERM
    python uvicorn_service.py hang    # the worker swallows every cancel and loops: the shutdown hangs
                                      # until the process is killed (SIGKILL)

Expected: a `SIGTERM` shutdown; `cache-refresher` `cancelled` (clean) or `survivor` (hang, from the
snapshots exported before the kill); the stream handler `finished`; the main task (uvicorn's `serve()`)
and the lifespan task, which drive the shutdown, never `orphan`.
"""
import asyncio
import contextlib
import sys

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.responses import StreamingResponse
from starlette.routing import Route

MODE = sys.argv[1] if len(sys.argv) > 1 else "clean"
server = None


async def refresher():
    while True:
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            if MODE == "clean":
                raise
            # HANG: keeps looping after its cancel


async def numbers():
    for i in range(3):
        yield f"{i}\n"
        await asyncio.sleep(0.01)


async def stream(request):
    return StreamingResponse(numbers(), media_type="text/plain")


async def client():
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    async with httpx.AsyncClient() as http:
        body = (await http.get(f"http://127.0.0.1:{port}/stream")).text
    print("stream:", body.split(), flush=True)
    print("ready", flush=True)


@contextlib.asynccontextmanager
async def lifespan(app):
    worker = asyncio.create_task(refresher(), name="cache-refresher")
    probe = asyncio.create_task(client(), name="client")
    yield
    await probe
    worker.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await worker
    print("lifespan: worker stopped", flush=True)


app = Starlette(routes=[Route("/stream", stream)], lifespan=lifespan)

if __name__ == "__main__":
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    server.run()
