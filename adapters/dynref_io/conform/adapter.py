"""The adapter program as dynref runs it: a child process spoken to in JSON lines.

`AdapterProcess` starts the command, writes requests to its stdin and matches the lines of its
stdout to them by id, so any number of requests may be in flight. Whatever goes wrong with
the adapter itself is an `AdapterError` with a one-line reason and the tail of its stderr: a
line that is not a JSON object with an id, an answer to no request in flight, a reply that
breaks the protocol, no answer within the timeout, or the process exiting. After the first
such error every later request fails at once with it, so a run stops instead of hanging.

`close()` closes the adapter's stdin (the protocol's request to stop), waits (at most
`STOP_GRACE_S`, or the setup timeout when shorter), then signals its process group: nothing
it started in that group outlives the run.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
from collections.abc import Sequence
from typing import Any

from dynref_io.conform.protocol import (
    PROTOCOL_VERSION,
    Answer,
    ProtocolViolationError,
    ReplicaRead,
    Status,
    TargetInfo,
    b64,
    encode_request,
    parse_line,
    read_answer,
    read_init,
    read_replicas,
    read_status,
)

MAX_LINE_BYTES = 16 * 1024 * 1024
STDERR_TAIL_LINES = 12
STOP_GRACE_S = 20.0
"""How long an adapter may take to stop its store once its stdin is closed (at most the setup
timeout: stopping a store is setup work too)."""
KILL_GRACE_S = 5.0


class AdapterError(Exception):
    """The adapter broke the protocol, did not answer in time, or exited."""


class AdapterProcess:
    """One running adapter; `request` sends one request and returns its reply object."""

    def __init__(self, argv: Sequence[str], request_timeout: float, setup_timeout: float) -> None:
        if not argv:
            raise AdapterError("the adapter command is empty")
        self.argv = list(argv)
        self.request_timeout = request_timeout
        self.setup_timeout = setup_timeout
        self._process: asyncio.subprocess.Process | None = None
        self._next_id = 0
        self._waiting: dict[int, tuple[str, asyncio.Future[dict[str, Any]]]] = {}
        self._stderr: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        self._tasks: list[asyncio.Task[None]] = []
        self.failure: AdapterError | None = None
        self._lines_read = 0

    # ------------------------------------------------------------ life

    async def start(self) -> None:
        try:
            self._process = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                limit=MAX_LINE_BYTES,
                start_new_session=True,  # its own process group: closed as a whole
            )
        except OSError as exc:
            raise AdapterError(f"cannot start the adapter {self.argv[0]!r}: {exc}") from None
        assert self._process.stdout is not None and self._process.stderr is not None
        self._tasks = [
            asyncio.create_task(self._read_replies(self._process.stdout)),
            asyncio.create_task(self._read_stderr(self._process.stderr)),
        ]

    async def close(self) -> None:
        process = self._process
        if process is None:
            return
        if process.stdin is not None and not process.stdin.is_closing():
            process.stdin.close()
        if not await self._exited_within(min(STOP_GRACE_S, self.setup_timeout)):
            self._signal_group(signal.SIGTERM)
            if not await self._exited_within(KILL_GRACE_S):
                self._signal_group(signal.SIGKILL)
                await self._exited_within(KILL_GRACE_S)
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._fail(AdapterError("the adapter was stopped"))

    async def _exited_within(self, seconds: float) -> bool:
        assert self._process is not None
        try:
            async with asyncio.timeout(seconds):
                await self._process.wait()
        except TimeoutError:
            return False
        return True

    def _signal_group(self, signum: int) -> None:
        assert self._process is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signum)

    @property
    def stderr_tail(self) -> str:
        return "\n".join(self._stderr)

    # ------------------------------------------------------------ requests

    async def request(self, op: str, timeout: float | None = None, **fields: Any) -> dict[str, Any]:
        if self.failure is not None:
            raise self.failure
        process = self._process
        if process is None or process.stdin is None:
            raise AdapterError("the adapter is not running")
        self._next_id += 1
        request_id = self._next_id
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = (op, future)
        seconds = self.request_timeout if timeout is None else timeout
        try:
            process.stdin.write(encode_request({"id": request_id, "op": op, **fields}))
            await process.stdin.drain()
            async with asyncio.timeout(seconds):
                return await future
        except (ConnectionError, BrokenPipeError):
            await self._exited_within(1.0)
            raise self._fail(self._exit_error("its stdin closed")) from None
        except TimeoutError:
            problem = f"the adapter did not answer {op} request {request_id} within {seconds:g} s"
            raise self._fail(AdapterError(problem)) from None
        finally:
            self._waiting.pop(request_id, None)

    async def _read_replies(self, stdout: asyncio.StreamReader) -> None:
        while True:
            try:
                line = await stdout.readline()
            except (ValueError, asyncio.LimitOverrunError):
                self._fail(
                    AdapterError(f"an output line of the adapter exceeds {MAX_LINE_BYTES} B")
                )
                return
            if not line:
                assert self._process is not None
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(2.0):
                        await self._process.wait()
                self._fail(self._exit_error("it closed its output"))
                return
            self._lines_read += 1
            if not line.strip():
                continue
            try:
                record = parse_line(line)
            except ProtocolViolationError as exc:
                self._fail(AdapterError(f"output line {self._lines_read} of the adapter: {exc}"))
                return
            waiting = self._waiting.get(record["id"])
            if waiting is None or waiting[1].done():
                problem = f"the adapter answered id {record['id']}, which no request in flight has"
                self._fail(AdapterError(problem))
                return
            waiting[1].set_result(record)

    async def _read_stderr(self, stderr: asyncio.StreamReader) -> None:
        while True:
            try:
                line = await stderr.readline()
            except (ValueError, asyncio.LimitOverrunError):
                continue
            if not line:
                return
            self._stderr.append(line.decode("utf-8", "backslashreplace").rstrip())

    def _exit_error(self, what: str) -> AdapterError:
        assert self._process is not None
        code = self._process.returncode
        status = "is still running" if code is None else f"exited with status {code}"
        return AdapterError(f"the adapter {status} ({what})")

    def _fail(self, error: AdapterError) -> AdapterError:
        """Record the first failure and fail every request in flight with it."""
        if self.failure is None:
            self.failure = error
        for _, future in self._waiting.values():
            if not future.done():
                future.set_exception(self.failure)
        return self.failure

    def _checked(self, op: str, parse: Any, record: dict[str, Any]) -> Any:
        try:
            return parse(record)
        except ProtocolViolationError as exc:
            raise self._fail(AdapterError(f"the adapter broke the protocol: {exc}")) from None

    # ------------------------------------------------------------ operations

    async def init(self, seed: int) -> TargetInfo:
        record = await self.request(
            "init", self.setup_timeout, seed=seed, protocol=PROTOCOL_VERSION
        )
        found = self._checked("init", read_init, record)
        if isinstance(found, Answer):
            raise self._fail(AdapterError(f"the adapter's init failed: {found.describe_error()}"))
        assert isinstance(found, TargetInfo)
        return found

    async def client_op(self, op: str, **fields: Any) -> Answer:
        record = await self.request(op, **fields)
        answer: Answer = self._checked(op, lambda r: read_answer(r, op), record)
        return answer

    async def hook(self, op: str, **fields: Any) -> Answer:
        """A fault hook (kill, restart, partition, heal): slow, so the setup timeout."""
        record = await self.request(op, self.setup_timeout, **fields)
        answer: Answer = self._checked(op, lambda r: read_answer(r, op), record)
        return answer

    async def read_replica(self, key: str) -> tuple[ReplicaRead, ...] | Answer:
        record = await self.request("read_replica", key=key)
        found: tuple[ReplicaRead, ...] | Answer = self._checked(
            "read_replica", read_replicas, record
        )
        return found

    async def status(self) -> Status | Answer:
        record = await self.request("status")
        found: Status | Answer = self._checked("status", read_status, record)
        return found


class AdapterStore:
    """The workload's `Store` over an adapter: requests name their client, node and quorum."""

    def __init__(self, adapter: AdapterProcess) -> None:
        self.adapter = adapter

    async def get(self, client: str, node: str | None, key: str, r: int | None) -> Answer:
        return await self.adapter.client_op("get", client=client, node=node, key=key, r=r)

    async def put(
        self, client: str, node: str | None, key: str, value: str, context: bytes, w: int | None
    ) -> Answer:
        return await self.adapter.client_op(
            "put", client=client, node=node, key=key, value=value, context=b64(context), w=w
        )

    async def delete(
        self, client: str, node: str | None, key: str, context: bytes, w: int | None
    ) -> Answer:
        return await self.adapter.client_op(
            "delete", client=client, node=node, key=key, context=b64(context), w=w
        )


__all__ = ["AdapterError", "AdapterProcess", "AdapterStore"]
