"""The HTTP API of real node processes, driven with urllib, curl, and docs/http.md's examples."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from dynref.causality import Mode
from dynref.causality.context import LwwContext, encode_context
from dynref_io.node.local_cluster import LocalCluster

from tests.e2e.conftest import StartCluster

pytestmark = pytest.mark.e2e
DOCS = Path(__file__).resolve().parents[2] / "docs" / "http.md"
CURL = shutil.which("curl")
needs_curl = pytest.mark.skipif(CURL is None, reason="curl is not installed on this machine")


def base_url(cluster: LocalCluster, node_id: str = "n1") -> str:
    return f"http://127.0.0.1:{cluster.address(node_id).http_port}"


def request(
    url: str, method: str = "GET", body: bytes | None = None, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    """One request with urllib: (status, headers, body), errors included."""
    prepared = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(prepared, timeout=20) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture
def cluster(start_cluster: StartCluster) -> LocalCluster:
    return start_cluster(3, http=True, n=3, r=2, w=2)


def test_contexts_round_trip_through_headers_and_siblings_resolve(cluster: LocalCluster) -> None:
    """REQ-HTTP-2, REQ-HTTP-3: blind writes become siblings; the read's context resolves them,
    written through another node than the one that read."""
    one, two = base_url(cluster, "n1"), base_url(cluster, "n2")
    key = "/buckets/shop/keys/cart%2F7"  # the key is "cart/7"
    assert request(one + key, "PUT", b"apple")[0] == 204
    assert request(two + key, "PUT", b"pear")[0] == 204
    status, headers, body = request(one + key)
    assert status == 300 and body.startswith(b"Siblings:\n") and len(body.splitlines()) == 3
    context = headers["X-Riak-Vclock"]
    status, headers, body = request(one + key, Accept="multipart/mixed")
    assert status == 300 and headers["Content-Type"].startswith("multipart/mixed; boundary=")
    assert b"apple" in body and b"pear" in body
    vtag = request(one + key)[2].splitlines()[1].decode()
    assert request(f"{one}{key}?vtag={vtag}")[0] == 200
    status, _, body = request(f"{two}{key}?returnbody=true", "PUT", b"apple+pear",
                              **{"X-Riak-Vclock": context})  # fmt: skip
    assert (status, body) == (200, b"apple+pear")
    status, headers, body = request(one + key + "?r=all")
    assert (status, body) == (200, b"apple+pear") and headers["Etag"]
    with cluster.client("n3") as native:  # the native client sees the same key
        assert native.get("shop/cart/7").values == (b"apple+pear",)


def test_deletes_leave_a_tombstone_that_a_context_writes_over(cluster: LocalCluster) -> None:
    """REQ-HTTP-3: 404 with X-Riak-Deleted and the context; writing with it revives the key."""
    url = base_url(cluster) + "/types/default/buckets/b/keys/gone"
    assert request(url, "PUT", b"here")[0] == 204
    context = request(url)[1]["X-Riak-Vclock"]
    assert request(url, "DELETE", **{"X-Riak-Vclock": context})[0] == 204
    status, headers, body = request(url)
    assert (status, body) == (404, b"not found\n") and headers["X-Riak-Deleted"] == "true"
    tombstone = headers["X-Riak-Vclock"]
    assert request(url, "PUT", b"back", **{"X-Riak-Vclock": tombstone})[0] == 204
    assert request(url)[::2] == (200, b"back")
    status, headers, _ = request(base_url(cluster) + "/buckets/b/keys/never")
    assert status == 404 and "X-Riak-Deleted" not in headers


def test_bad_requests_are_refused_with_riaks_status_codes(cluster: LocalCluster) -> None:
    """REQ-HTTP-1, REQ-HTTP-2, REQ-HTTP-4: malformed paths, contexts, quorums and sizes."""
    url = base_url(cluster)
    foreign = base64.b64encode(encode_context(Mode.LWW, LwwContext())).decode()
    cases = [
        (url + "/buckets/b/keys/%zz", "GET", None, {}, 400, b"malformed percent-encoding"),
        (url + "/buckets//keys/k", "GET", None, {}, 400, b"bucket name is empty"),
        (url + "/types/other/buckets/b/keys/k", "GET", None, {}, 404, b"Unknown bucket type"),
        (url + "/nowhere", "GET", None, {}, 404, b"no such resource"),
        (url + "/buckets/b/keys/k", "PUT", b"x", {"X-Riak-Vclock": "%%%"}, 400, b"not base64"),
        (url + "/buckets/b/keys/k", "PUT", b"x", {"X-Riak-Vclock": foreign}, 400,
         b"foreign mode"),
        (url + "/buckets/b/keys/k", "PUT", b"x", {"X-Riak-Vclock": "AQ=="}, 400, b"truncated"),
        (url + "/buckets/b/keys/k?r=4", "GET", None, {}, 400, b"R=4 must be between 1 and N=3"),
        (url + "/buckets/b/keys/k?r=0", "GET", None, {}, 400, b"R=0 must be between"),
        (url + "/buckets/b/keys/k?w=lots", "PUT", b"x", {}, 400, b"w must be a positive"),
        (url + "/buckets/b/keys/k?returnbody=1", "PUT", b"x", {}, 400, b"true or false"),
        (url + "/buckets/b/keys/k", "PUT", b"v" * (1024 * 1024 + 1), {}, 413, b"exceeds"),
        (url + "/buckets/b/keys/" + "k" * 1100, "GET", None, {}, 413, b"key too large"),
    ]  # fmt: skip
    for target, method, body, headers, status, text in cases:
        found = request(target, method, body, **headers)
        assert (found[0], text in found[2]) == (status, True), (target, method, found)
    assert request(url + "/buckets/b/keys/k")[0] == 404  # none of them wrote anything


def test_a_quorum_not_reached_is_503_and_metrics_count_it(cluster: LocalCluster) -> None:
    """REQ-HTTP-4, REQ-HTTP-6: a node cut off from its peers cannot gather R=3."""
    url = base_url(cluster)
    with cluster.client("n1") as native:
        native.isolate(["n2", "n3"])
        status, _, body = request(url + "/buckets/b/keys/k?r=all")
        native.isolate([])
    assert status == 503 and body.startswith(b"R-value unsatisfied: 3/")
    metrics = request(url + "/metrics")[2].decode()
    assert 'dynref_http_requests_total{method="GET",code="503"} 1' in metrics
    assert re.search(r"^dynref_coordinated_gets_total [1-9]", metrics, re.MULTILINE)


@needs_curl
def test_curl_stores_reads_and_keeps_its_connection_alive(cluster: LocalCluster) -> None:
    """REQ-HTTP-5: two requests on one connection (curl reuses it), values byte for byte."""
    assert CURL is not None
    url = base_url(cluster) + "/buckets/bin/keys/blob"
    value = bytes(range(256))
    stored = subprocess.run(
        [CURL, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", "--data-binary",
         "@-", url, "--next", "-sS", "-w", "\n%{http_code} %{num_connects}", url],
        input=value, capture_output=True, timeout=30, check=True,
    )  # fmt: skip
    body, _, codes = stored.stdout.rpartition(b"\n")
    assert body.endswith(value) and stored.stdout.startswith(b"204")
    assert codes == b"200 0"  # the second request reused the first one's connection


def doc_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)


@needs_curl
def test_every_example_of_docs_http_runs_with_the_documented_status(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    """Each ```sh block of docs/http.md, run as written against a live node, answers the
    status lines its `# HTTP/1.1 ...` comments promise."""
    blocks = doc_blocks()
    assert len(blocks) >= 10
    http_port, native_port = cluster.address("n1").http_port, cluster.address("n1").port
    prelude = f'dynref() {{ "{sys.executable}" -m dynref_io.cli "$@"; }}\nset -e\n'
    for block in blocks:
        script = block.replace("127.0.0.1:8098", f"127.0.0.1:{http_port}")
        script = script.replace("127.0.0.1:7001", f"127.0.0.1:{native_port}")
        script = script.replace("curl -i", "curl -sS -i").replace("curl -I", "curl -sS -I")
        expected = re.findall(r"^# (HTTP/1\.1 \d{3})", block, flags=re.MULTILINE)
        ran = subprocess.run(
            ["bash", "-c", prelude + script],
            capture_output=True,
            timeout=60,
            check=False,
            env={**os.environ, "HOME": str(tmp_path)},
        )
        assert ran.returncode == 0, (block, ran.stderr.decode(errors="replace"))
        statuses = re.findall(rb"HTTP/1\.1 \d{3}", ran.stdout)  # a body may end without a newline
        found = [line.decode() for line in statuses if not line.endswith(b" 100")]
        assert found == expected, (block, ran.stdout.decode(errors="replace")[-2000:])
