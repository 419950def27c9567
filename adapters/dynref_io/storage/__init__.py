"""Durable storage of a node's `DurableState`: SQLite for real nodes, memory for tests."""
