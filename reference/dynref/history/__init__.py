"""Histories: what the clients of any key-value store saw, as values and as JSON lines.

The black-box checkers (`dynref.check.check_history`) judge a `History`; the simulator emits
one (`dynref.sim.history_of`), and any harness can write one (spec/history.md, with a JSON
Schema in spec/history.schema.json).

    from dynref.history import decode_history, encode_history
    history = decode_history(text)          # strict: HistoryFormatError names line and field
    text = encode_history(history)
"""

from dynref.history.jsonl import (
    FORMAT,
    VERSION,
    HistoryFormatError,
    decode_history,
    encode_fault,
    encode_final,
    encode_header,
    encode_history,
    encode_op,
)
from dynref.history.records import (
    Capabilities,
    Entry,
    Fault,
    FaultKind,
    FinalRead,
    Header,
    History,
    Op,
    OpKind,
    Outcome,
    entry_time,
    fault_problem,
    final_problem,
    op_problem,
)

__all__ = [
    "FORMAT",
    "VERSION",
    "Capabilities",
    "Entry",
    "Fault",
    "FaultKind",
    "FinalRead",
    "Header",
    "History",
    "HistoryFormatError",
    "Op",
    "OpKind",
    "Outcome",
    "decode_history",
    "encode_fault",
    "encode_final",
    "encode_header",
    "encode_history",
    "encode_op",
    "entry_time",
    "fault_problem",
    "final_problem",
    "op_problem",
]
