#!/usr/bin/env bash
# The virtual environment (.venv-py) with the real libraries the recorder's end-to-end tests run programs on:
# aiohttp, anyio 4, httpx, starlette, uvicorn (Debian's python3-anyio is 3.x, which behaves differently).
# Made once; a later call only checks that the libraries import. Run by `npm test` (pretest) and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV=.venv-py
LIBRARIES=(aiohttp 'anyio>=4' httpx starlette uvicorn)
IMPORTS='import aiohttp, anyio, httpx, starlette, uvicorn; from importlib.metadata import version; assert int(version("anyio").split(".")[0]) >= 4'

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "$IMPORTS" 2>/dev/null; then exit 0; fi
echo "test/python/venv.sh: making $VENV with ${LIBRARIES[*]}"
python3 -m venv "$VENV"
# No retries: where the upstream index is out of reach, the configured local indexes answer at once.
"$VENV/bin/pip" install -q --retries 0 --timeout 15 "${LIBRARIES[@]}"
"$VENV/bin/python" -c "$IMPORTS"
