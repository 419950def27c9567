"""The HTTP API of a node: Riak's object URLs and headers over the same core (docs/http.md).

`routes` parses request targets and query parameters and maps Riak's (bucket, key) pairs to
store keys; `responses` turns client results into HTTP responses (siblings, tombstones,
contexts); `metrics` renders `/stats` and `/metrics`; `server` is the asyncio listener, speaking
HTTP/1.1 through h11 and handing each request to the node exactly as a native client
connection does. Everything but `server` is pure and tested with Hypothesis.
"""
