#!/usr/bin/env python3
"""A tiny HTTP JSON key-value store with siblings and contexts, to show a conformance adapter.

    python examples/http_json_store.py [--port 8080]     # prints "listening on HOST:PORT"

One node, standard library only. Each key holds siblings, each stamped with a dot from the key's
counter; a read returns every sibling's value and the counter as its context, and a write with
a context replaces exactly the siblings whose dots it covers (those the read returned), so two
writes with one context both survive as siblings. Dotted version vectors with a single actor.

    GET    /kv/KEY                               200 {"values": [...], "context": "7"}
    PUT    /kv/KEY  {"value": "v", "context": "7"}   204
    DELETE /kv/KEY  {"context": "7"}                 204
A context that is not a counter this key has reached is refused: 400, nothing stored.
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

LOCK = threading.Lock()
COUNTERS: dict[str, int] = {}
SIBLINGS: dict[str, list[tuple[int, str]]] = {}


class Handler(BaseHTTPRequestHandler):
    def key(self) -> str | None:
        return unquote(self.path[len("/kv/") :]) if self.path.startswith("/kv/") else None

    def reply(self, status: int, document: Any = None) -> None:
        body = b"" if document is None else json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        key = self.key()
        if key is None:
            return self.reply(404, {"error": "no such path"})
        with LOCK:
            values = [value for _, value in SIBLINGS.get(key, [])]
            context = str(COUNTERS.get(key, 0))
        return self.reply(200, {"values": values, "context": context})

    def write(self, deleting: bool) -> None:
        key = self.key()
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
            seen = int(body.get("context") or 0)
            value = None if deleting else str(body["value"])
        except (ValueError, KeyError, TypeError, AttributeError):
            return self.reply(400, {"error": "expected JSON with a value and a context"})
        if key is None:
            return self.reply(404, {"error": "no such path"})
        with LOCK:
            counter = COUNTERS.get(key, 0)
            if not 0 <= seen <= counter:
                return self.reply(400, {"error": f"context {seen} is not one of {key}'s"})
            kept = [(dot, v) for dot, v in SIBLINGS.get(key, []) if dot > seen]
            COUNTERS[key] = counter + 1
            if value is not None:
                kept.append((counter + 1, value))
            SIBLINGS[key] = kept
        return self.reply(204)

    def do_PUT(self) -> None:
        self.write(deleting=False)

    def do_DELETE(self) -> None:
        self.write(deleting=True)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: one line per request
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description="A tiny HTTP JSON key-value store.")
    parser.add_argument("--port", type=int, default=8080, help="0: any free port")
    server = ThreadingHTTPServer(("127.0.0.1", parser.parse_args().port), Handler)
    print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
