"""The deterministic cluster simulator: a Dynamo cluster as a value, driven by actions.

- `Cluster`: nodes, the in-flight bag, faults, clocks, clients and history; every action
  (`deliver`, `drop`, `duplicate`, `tick`, `tick_all`, `crash`, `restart`, `lose_disk`,
  `partition`, `partition_directed`, `heal`, `client_get`, `client_put`, `client_delete`,
  `join`, `leave`, `quiesce`, or `apply(action)`) returns a new cluster.
- `fingerprint(cluster)`: a canonical digest of the state, for state hashing.
- `Trace`, `trace_of`, `replay`, `to_jsonl`, `from_jsonl`: runs as replayable JSON lines.
- `history_of(cluster)`: what the run's clients saw, as a `dynref.history.History` for the
  black-box checkers (`dynref.check.check_history`).
- `explorer_config`: the small, fast configuration the explorers default to.

Pure: no I/O, no clock, no randomness; the same actions always give the same cluster.
"""

from dynref.sim.actions import (
    ACTION_TYPES,
    Action,
    Crash,
    Delete,
    Deliver,
    Drop,
    Duplicate,
    Get,
    Heal,
    Join,
    Leave,
    LoseDisk,
    Partition,
    PartitionDirected,
    Put,
    QuiesceBegin,
    QuiesceEnd,
    RestartNode,
    TickAll,
    TickNode,
    describe,
)
from dynref.sim.cluster import DEFAULT_CLIENTS, DEFAULT_QUIESCE_BOUND, Cluster
from dynref.sim.defaults import EXPLORER_KEYS, explorer_config, node_specs
from dynref.sim.engine import InvalidActionError
from dynref.sim.fingerprint import canonical, fingerprint
from dynref.sim.history import ClientState, NoReply, Operation, OperationKind, OperationResult
from dynref.sim.log import Log
from dynref.sim.model import Counters, Crashed, InFlight, Quiescence
from dynref.sim.observed import capabilities_of, history_of
from dynref.sim.records import (
    AdminRecord,
    DegradedRecord,
    DiskLossRecord,
    DropRecord,
    DurableRecord,
    ExecutionRecord,
    ForwardDeliveryRecord,
    HandoffAckRecord,
    ProtocolErrorRecord,
    QuiescenceRecord,
    Record,
)
from dynref.sim.trace import Observations, Trace, from_jsonl, observe, replay, to_jsonl, trace_of

__all__ = [
    "ACTION_TYPES",
    "AdminRecord",
    "DEFAULT_CLIENTS",
    "DEFAULT_QUIESCE_BOUND",
    "EXPLORER_KEYS",
    "Action",
    "ClientState",
    "Cluster",
    "Counters",
    "Crash",
    "Crashed",
    "DegradedRecord",
    "Delete",
    "Deliver",
    "DiskLossRecord",
    "DropRecord",
    "Drop",
    "Duplicate",
    "DurableRecord",
    "ExecutionRecord",
    "ForwardDeliveryRecord",
    "Get",
    "HandoffAckRecord",
    "Heal",
    "InFlight",
    "InvalidActionError",
    "Join",
    "Leave",
    "Log",
    "LoseDisk",
    "NoReply",
    "Observations",
    "Operation",
    "OperationKind",
    "OperationResult",
    "Partition",
    "PartitionDirected",
    "ProtocolErrorRecord",
    "Put",
    "QuiesceBegin",
    "QuiesceEnd",
    "Quiescence",
    "QuiescenceRecord",
    "Record",
    "RestartNode",
    "TickAll",
    "TickNode",
    "Trace",
    "canonical",
    "capabilities_of",
    "describe",
    "explorer_config",
    "fingerprint",
    "from_jsonl",
    "history_of",
    "node_specs",
    "observe",
    "replay",
    "to_jsonl",
    "trace_of",
]
