"""The node process's helpers: the log's timestamps and tracebacks, the event loop it runs on."""

from __future__ import annotations

import asyncio
import re
import sys
import types

import pytest
from dynref_io.node import basics


def test_log_lines_start_with_the_utc_time(capsys: pytest.CaptureFixture[str]) -> None:
    basics.log_line("n1: listening")
    line = capsys.readouterr().err
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z n1: listening\n", line), line


def test_an_internal_error_is_logged_with_its_traceback() -> None:
    try:
        raise ZeroDivisionError("planted")
    except ZeroDivisionError as error:
        entry = basics.with_traceback("n1: failed", error)
    first, *rest = entry.splitlines()
    assert first == "n1: failed" and rest[0] == "Traceback (most recent call last):"
    assert rest[-1] == "ZeroDivisionError: planted"


async def which_loop() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_the_node_runs_on_uvloop_when_it_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[asyncio.AbstractEventLoop] = []

    def new_event_loop() -> asyncio.AbstractEventLoop:
        made.append(asyncio.new_event_loop())
        return made[-1]

    monkeypatch.setitem(sys.modules, "uvloop", types.SimpleNamespace(new_event_loop=new_event_loop))
    assert basics.run_event_loop(which_loop()).startswith("asyncio")  # the stand-in's loop
    assert len(made) == 1


def test_the_node_runs_on_asyncio_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # importing it raises ImportError
    assert basics.run_event_loop(which_loop()).startswith("asyncio")
