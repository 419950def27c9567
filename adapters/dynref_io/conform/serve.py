"""The adapter's side of the target protocol, for adapters written in Python with asyncio.

`serve(handle)` reads requests from stdin, one JSON object per line, runs `handle(request)` for
each in its own task (so many may be in flight) and writes each reply, with the request's id,
as one line on stdout. An exception in `handle` becomes an error reply (code `other`, not
definite: the handler may have done something). It returns at the end of stdin (the request to
stop) or when `stop` is set, once the requests in flight are answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from dynref_io.conform.protocol import encode_request

MAX_LINE_BYTES = 16 * 1024 * 1024
Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def error_reply(code: str, definite: bool, message: str) -> dict[str, Any]:
    return {"ok": False, "code": code, "definite": definite, "message": message}


def _write(reply: dict[str, Any]) -> None:
    sys.stdout.buffer.write(encode_request(reply))
    sys.stdout.buffer.flush()


async def _answer(handle: Handler, request: dict[str, Any]) -> None:
    try:
        reply = await handle(request)
    except Exception as exc:  # the handler's bug is reported to the harness, not a crash
        reply = error_reply("other", False, f"{type(exc).__name__}: {exc}")
    _write({"id": request["id"], **reply})


async def serve(handle: Handler, stop: asyncio.Event | None = None) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_LINE_BYTES)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    stopping = stop or asyncio.Event()
    in_flight: set[asyncio.Task[None]] = set()
    stopped = asyncio.create_task(stopping.wait())
    try:
        while True:
            reading = asyncio.create_task(reader.readline())
            await asyncio.wait({reading, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not reading.done():
                reading.cancel()
                return
            line = reading.result()
            if not line:
                return
            try:
                request = json.loads(line)
            except ValueError:
                print(f"adapter: not a JSON request: {line[:80]!r}", file=sys.stderr)
                continue
            if not isinstance(request, dict) or not isinstance(request.get("id"), int):
                print(f"adapter: a request without an id: {line[:80]!r}", file=sys.stderr)
                continue
            task = asyncio.create_task(_answer(handle, request))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
    finally:
        stopped.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*in_flight, return_exceptions=True)


__all__ = ["Handler", "error_reply", "serve"]
