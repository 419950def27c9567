"""dynref: the pure, deterministic core of a Dynamo reference implementation.

Nothing under this package performs I/O, reads a clock or draws randomness: time and seeds are
inputs, effects are outputs (see docs/architecture.md).
"""
