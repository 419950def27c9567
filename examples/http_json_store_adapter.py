#!/usr/bin/env python3
"""A `dynref conform` adapter for the HTTP JSON store of http_json_store.py (standard library).

    dynref conform --adapter 'python3 examples/http_json_store_adapter.py' --seeds 0:5
    dynref conform --adapter 'python3 examples/http_json_store_adapter.py --url http://HOST:PORT'

Without --url it starts its own store (http_json_store.py, beside it) and stops it at the end.
It reads one JSON request per line on stdin and answers each with one JSON line on stdout, with
the request's id (docs/conformance.md). Requests are answered one at a time, in order: that is
allowed, if slower. Anything for people goes to stderr: stdout carries only replies.
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

TIMEOUT_S = 5.0
CAPABILITIES = {
    "causality": "dvv",  # siblings, and a context that covers exactly what a read returned
    "contexts": True,
    "siblings": True,
    "deletes": True,
    "per_request_rw": False,
    "strict_quorum": True,  # one node: N = R = W = 1
    "coordinators": True,  # every request goes to the one node, n1
    "n": 1,
    "r": 1,
    "w": 1,
    "hooks": ["read_replica"],  # no faults: the store has one node and no fault injection
}


class StoreError(Exception):
    """An error reply: a protocol error code, and whether the operation certainly did nothing."""

    def __init__(self, code: str, definite: bool, message: str) -> None:
        super().__init__(message)
        self.code, self.definite = code, definite


class Store:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def call(self, method: str, key: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}/kv/{quote(key, safe='')}", data, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                text = response.read()
        except urllib.error.HTTPError as exc:  # the store answered: it refused before storing
            code = "invalid-context" if exc.code == 400 else "unavailable"
            text = exc.read().decode(errors="replace")
            raise StoreError(code, True, f"HTTP {exc.code}: {text}") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, ConnectionRefusedError):  # never sent: certainly no effect
                raise StoreError("unavailable", True, str(exc.reason)) from None
            raise StoreError("crash", method == "GET", str(exc.reason)) from None
        except TimeoutError:  # a write may or may not have happened
            message = f"no answer within {TIMEOUT_S} s"
            raise StoreError("timeout", method == "GET", message) from None
        return json.loads(text) if text else None

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request["op"]
        if op == "init":
            return {"ok": True, "target": "http json store", "nodes": ["n1"],
                    "capabilities": CAPABILITIES}  # fmt: skip
        key = request["key"]
        # The store's context is text ("7"); dynref carries contexts as opaque bytes in base64.
        context = base64.b64decode(request.get("context") or "").decode()
        if op == "get":
            found = self.call("GET", key)
            encoded = base64.b64encode(found["context"].encode()).decode()
            return {"ok": True, "values": found["values"], "context": encoded}
        if op == "put":
            self.call("PUT", key, {"value": request["value"], "context": context})
            return {"ok": True}
        if op == "delete":
            self.call("DELETE", key, {"context": context})
            return {"ok": True}
        if op == "read_replica":  # one node: its replica is what a read returns
            found = self.call("GET", key)
            return {"ok": True, "replicas": [{"node": "n1", "values": found["values"]}]}
        raise StoreError("unsupported", True, f"no {op} here")


def start_store() -> tuple[subprocess.Popen[str], str]:
    """Start http_json_store.py on a free port; its first line says where it listens."""
    script = Path(__file__).with_name("http_json_store.py")
    child = subprocess.Popen(
        [sys.executable, str(script), "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    address = child.stdout.readline().split()[-1]
    return child, f"http://{address}"


def main() -> None:
    parser = argparse.ArgumentParser(description="dynref conform adapter for http_json_store")
    parser.add_argument("--url", help="a running store (default: start one)")
    url = parser.parse_args().url
    child = None
    if url is None:
        child, url = start_store()
    store = Store(url)
    try:
        for line in sys.stdin:  # until dynref closes our stdin: the request to stop
            request = json.loads(line)
            try:
                reply = store.handle(request)
            except StoreError as exc:
                reply = {"ok": False, "code": exc.code, "definite": exc.definite,
                         "message": str(exc)}  # fmt: skip
            print(json.dumps({"id": request["id"], **reply}), flush=True)
    finally:
        if child is not None:
            child.terminate()
            child.wait()


if __name__ == "__main__":
    main()
