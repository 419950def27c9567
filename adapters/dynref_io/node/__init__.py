"""One node as a process: the asyncio runtime around the core, its listener and peer links,
the cluster file, and local clusters of node processes."""
