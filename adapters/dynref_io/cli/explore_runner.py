"""Running swarm seeds and shrinks in worker processes, and saving counterexamples to disk.

The pure engines (`dynref.explore`) run one seed or one shrink at a time; this module spreads
them over a `multiprocessing` pool, streams outcomes back as they finish (for a progress bar),
and writes shrunk traces as JSON lines. Workers drop the trace of a passing seed before sending
the outcome back, so a long run moves little data between processes.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import TextIO

import attrs
from dynref.explore.judge import violated
from dynref.explore.swarm import SeedOutcome, SwarmSettings, run_seed, shrink_outcome
from dynref.sim import Trace, to_jsonl, trace_of


@attrs.frozen
class Counterexample:
    """A failing seed's trace for one invariant, shrunk when shrinking succeeded."""

    seed: int
    invariant: str
    trace: Trace
    original_schedule: int
    """Actions before the liveness phase in the seed's run."""
    schedule: int
    """Actions before the liveness phase in the saved trace (the same when not shrunk)."""
    shrunk: bool


def _context() -> multiprocessing.context.BaseContext:
    """`fork` where there is one: workers inherit the parent's string-hash seed, so a seed
    re-run in the parent (to shrink it) behaves as it did in the worker even while some step
    still iterates in hash order (see tests/test_check_node_findings.py)."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)


def _ignore_interrupts() -> None:
    """In a worker: Ctrl-C is the parent's to handle (it stops the pool and prints a summary);
    workers that raised KeyboardInterrupt too would each print a traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_one(seed: int, settings: SwarmSettings) -> SeedOutcome:
    outcome = run_seed(seed, settings, keep_trace=False)
    return attrs.evolve(outcome, trace=None)  # a failing seed is re-run if it gets shrunk


def run_seeds(seeds: Sequence[int], settings: SwarmSettings, jobs: int) -> Iterator[SeedOutcome]:
    """Every seed's outcome, in completion order (seed order when `jobs` is 1)."""
    if jobs <= 1 or len(seeds) <= 1:
        for seed in seeds:
            yield _run_one(seed, settings)
        return
    chunk = max(1, min(8, len(seeds) // (jobs * 8)))
    with _context().Pool(jobs, initializer=_ignore_interrupts) as pool:
        yield from pool.imap_unordered(partial(_run_one, settings=settings), seeds, chunk)


def _shrink_one(job: tuple[int, str], settings: SwarmSettings) -> Counterexample:
    seed, invariant = job
    outcome = run_seed(seed, settings)
    assert outcome.trace is not None
    original = outcome.schedule_length
    try:
        result = shrink_outcome(outcome, invariant, settings)
    except ValueError:
        trace = outcome.trace
        return Counterexample(seed, invariant, trace, original, original, shrunk=False)
    trace = trace_of(result.cluster, seed, violated(result.cluster, settings.checks))
    shrunk = len(result.schedule)
    return Counterexample(seed, invariant, trace, original, shrunk, shrunk=True)


def shrink_all(
    jobs_to_shrink: Sequence[tuple[int, str]], settings: SwarmSettings, jobs: int
) -> list[Counterexample]:
    """Re-run each (seed, invariant) with its trace and shrink it for that invariant."""
    work = partial(_shrink_one, settings=settings)
    if jobs <= 1 or len(jobs_to_shrink) <= 1:
        return [work(job) for job in jobs_to_shrink]
    with _context().Pool(min(jobs, len(jobs_to_shrink)), initializer=_ignore_interrupts) as pool:
        return pool.map(work, jobs_to_shrink)


def save_trace(directory: Path, name: str, trace: Trace) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.jsonl"
    path.write_text(to_jsonl(trace), encoding="utf-8")
    return path


PROGRESS_LINE_INTERVAL_S = 5.0
"""When stderr is not a terminal (a log, CI), progress is a line at most this often."""


class ProgressLines:
    """Progress for a stream that is not a terminal: a whole line, at most one per interval."""

    def __init__(
        self,
        stream: TextIO,
        interval: float = PROGRESS_LINE_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream, self.interval, self.clock = stream, interval, clock
        self.started = self.last = clock()

    def maybe(self, describe: Callable[[float], str]) -> None:
        """Write `describe(elapsed seconds)` if the interval has passed since the last line."""
        now = self.clock()
        if now - self.last >= self.interval:
            self.last = now
            self.stream.write(describe(now - self.started) + "\n")
            self.stream.flush()


class ProgressBar:
    """`[#####-----] 120/300 seeds  4.2 s  2 failing` on one stderr line, redrawn in place; on a
    stream that is not a terminal, `explore: 120/300 seeds, ...` lines every few seconds."""

    def __init__(self, total: int, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = enabled and self.stream.isatty()
        self.lines = ProgressLines(self.stream) if enabled and not self.enabled else None
        self.done = 0
        self.failing = 0
        self.started = time.monotonic()
        self.drawn_at = 0.0

    def advance(self, failed: bool) -> None:
        self.done += 1
        self.failing += failed
        now = time.monotonic()
        if self.enabled and (now - self.drawn_at >= 0.1 or self.done == self.total):
            self.drawn_at = now
            self._draw(now)
        if self.lines is not None:
            self.lines.maybe(
                lambda seconds: (
                    f"explore: {self.done}/{self.total} seeds, {seconds:.0f} s, "
                    f"{self.failing} failing"
                )
            )

    def _draw(self, now: float) -> None:
        width = 30
        filled = width * self.done // max(1, self.total)
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(
            f"\r[{bar}] {self.done}/{self.total} seeds  {now - self.started:.1f} s  "
            f"{self.failing} failing"
        )
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
