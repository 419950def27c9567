"""An adapter that breaks the target protocol in one chosen way, for `dynref conform`'s tests.

    python tests/bad_adapter.py BEHAVIOUR

Until it misbehaves it answers like a one-node store that keeps every promise (a dict with a
counter as context). Behaviours:

- `exit`: exits at once with status 3, a line on stderr;
- `garbage`: answers init with a line that is not JSON;
- `no-id`: answers init with a JSON object without an id;
- `bad-init`: answers init without capabilities;
- `hang-init`: reads requests but never answers;
- `hang-get`: answers init and writes, never a get;
- `unknown-id`: answers the first put with an id no request has;
- `bad-reply`: answers the first get with values that are not a list of strings;
- `deaf`: never answers, and ignores the end of its stdin (it must be stopped by a signal);
- `no-reads`: keeps the protocol, but every get fails (definite) and it offers no replica
  reads: its writes cannot be judged, so the run is incomplete.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

BEHAVIOURS = (
    "exit",
    "garbage",
    "no-id",
    "bad-init",
    "hang-init",
    "hang-get",
    "unknown-id",
    "bad-reply",
    "deaf",
    "no-reads",
)
CAPABILITIES = {
    "causality": "dvv",
    "contexts": True,
    "siblings": True,
    "deletes": True,
    "per_request_rw": False,
    "strict_quorum": True,
    "coordinators": True,
    "n": 1,
    "r": 1,
    "w": 1,
    "hooks": ["read_replica"],
}


def reply(document: dict[str, Any]) -> None:
    print(json.dumps(document), flush=True)


def main() -> int:
    behaviour = sys.argv[1]
    assert behaviour in BEHAVIOURS, behaviour
    if behaviour == "exit":
        print("bad adapter: giving up at once", file=sys.stderr)
        return 3
    if behaviour == "deaf":
        while True:
            time.sleep(60)
    values: dict[str, str] = {}
    for line in sys.stdin:
        request = json.loads(line)
        rid, op = request["id"], request["op"]
        if behaviour == "hang-init" or (behaviour == "hang-get" and op == "get"):
            continue
        if op == "init":
            if behaviour == "garbage":
                print("Starting the store... done", flush=True)
            elif behaviour == "no-id":
                reply({"ok": True})
            elif behaviour == "bad-init":
                reply({"id": rid, "ok": True, "nodes": ["n1"]})
            else:
                hooks = [] if behaviour == "no-reads" else ["read_replica"]
                capabilities = {**CAPABILITIES, "hooks": hooks}
                reply({"id": rid, "ok": True, "nodes": ["n1"], "capabilities": capabilities})
        elif op in {"put", "delete"}:
            if behaviour == "unknown-id":
                reply({"id": rid + 1000, "ok": True})
                continue
            if op == "put":
                values[request["key"]] = request["value"]
            else:
                values.pop(request["key"], None)
            reply({"id": rid, "ok": True})
        elif op == "get" and behaviour == "no-reads":
            reply({"id": rid, "ok": False, "code": "unavailable", "definite": True})
        elif op == "get":
            found = [values[request["key"]]] if request["key"] in values else []
            reply({"id": rid, "ok": True, "values": "oops" if behaviour == "bad-reply" else found})
        elif op == "read_replica":
            found = [values[request["key"]]] if request["key"] in values else []
            reply({"id": rid, "ok": True, "replicas": [{"node": "n1", "values": found}]})
        else:
            reply({"id": rid, "ok": False, "code": "unsupported", "definite": True})
    return 0


if __name__ == "__main__":
    sys.exit(main())
