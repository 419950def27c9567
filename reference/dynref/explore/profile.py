"""What one swarm seed draws before it runs: its fault profile and its workload.

Swarm testing (as in TigerBeetle's VOPR and FoundationDB's simulation): instead of one uniform
mix of faults for every run, each seed draws its own. Some seeds lose many messages and never
crash, others partition often, others drift clocks apart and crash nodes mid-request; a bug that
one uniform mix would hide under its other faults shows up in the seeds whose profile suits it.

Rates and weights are integers: per-mille chances for what happens to a message, and relative
weights for what the next step of the schedule is.
"""

from __future__ import annotations

import attrs

from dynref.explore.draws import Dice
from dynref.sim import DEFAULT_CLIENTS, EXPLORER_KEYS

PARTITION_SHAPES = ("split", "isolate", "one-way")
"""split: the nodes fall into two groups; isolate: one node alone; one-way: one node can send
but not receive, or receive but not send (an asymmetric partition)."""

MESSAGE_WEIGHT = 60
"""The weight of "something happens to an in-flight message" among a step's choices."""


@attrs.frozen
class FaultProfile:
    loss_per_mille: int
    """Chance that a message the schedule picks is dropped instead of delivered."""
    duplicate_per_mille: int
    """Chance that a message the schedule picks is duplicated (both copies stay in flight)."""
    partition_weight: int
    heal_weight: int
    partition_shapes: tuple[str, ...]
    crash_weight: int
    restart_weight: int
    disk_loss_weight: int
    """Zero unless the run opted into disk loss."""
    tick_ms: tuple[tuple[str, int], ...]
    """Each node's clock step: a common tempo skewed per node (clock drift)."""
    tick_weight: int

    def tick_of(self, node: str) -> int:
        """The node's clock step; a node that joined later ticks at the slowest tempo."""
        steps = dict(self.tick_ms)
        return steps.get(node, max(steps.values()))

    def describe(self) -> str:
        drift = ", ".join(f"{node} {ms}" for node, ms in self.tick_ms)
        shapes = "/".join(self.partition_shapes) or "none"
        return (
            f"loss {self.loss_per_mille}‰, duplication {self.duplicate_per_mille}‰, "
            f"partitions {self.partition_weight} ({shapes}), crashes {self.crash_weight}, "
            f"disk loss {self.disk_loss_weight}, ticks {drift} ms"
        )


@attrs.frozen
class Workload:
    clients: tuple[str, ...]
    keys: tuple[bytes, ...]
    """A tiny key set, so that operations collide."""
    get_weight: int
    put_weight: int
    delete_weight: int
    request_weight: int
    """How eagerly idle clients issue their next operation."""

    def describe(self) -> str:
        keys = ",".join(key.decode() for key in self.keys)
        return (
            f"{len(self.clients)} clients on keys {keys}, get/put/delete "
            f"{self.get_weight}/{self.put_weight}/{self.delete_weight}, "
            f"request weight {self.request_weight}"
        )


@attrs.frozen
class SwarmProfile:
    faults: FaultProfile
    workload: Workload

    def describe(self) -> str:
        return f"faults: {self.faults.describe()}; workload: {self.workload.describe()}"


def draw_profile(seed: int, node_ids: tuple[str, ...], *, disk_loss: bool) -> SwarmProfile:
    """The profile of one seed: a pure function of the seed, the nodes and the disk-loss flag."""
    dice = Dice("swarm-profile", seed)
    return SwarmProfile(_draw_faults(dice, node_ids, disk_loss), _draw_workload(dice))


def _draw_faults(dice: Dice, node_ids: tuple[str, ...], disk_loss: bool) -> FaultProfile:
    tempo = dice.pick((20, 40, 80))
    drift_limit = dice.pick((0, 0, 50, 200, 400))  # per mille of the tempo
    tick_ms = tuple(
        (node, max(1, tempo * (1000 + _spread(dice, drift_limit)) // 1000)) for node in node_ids
    )
    partition_weight = dice.pick((0, 0, 1, 2, 4))
    shapes = dice.subset(PARTITION_SHAPES, 600) or (dice.pick(PARTITION_SHAPES),)
    return FaultProfile(
        loss_per_mille=dice.pick((0, 0, 10, 50, 150)),
        duplicate_per_mille=dice.pick((0, 0, 10, 50, 120)),
        partition_weight=partition_weight,
        heal_weight=dice.pick((2, 4, 8)) if partition_weight else 0,
        partition_shapes=shapes if partition_weight else (),
        crash_weight=dice.pick((0, 0, 1, 2, 4)),
        restart_weight=dice.pick((3, 6, 12)),
        disk_loss_weight=dice.pick((1, 2)) if disk_loss else 0,
        tick_ms=tick_ms,
        tick_weight=dice.pick((8, 15, 25)),
    )


def _spread(dice: Dice, limit: int) -> int:
    """A draw in [-limit, +limit]."""
    return dice.below(2 * limit + 1) - limit if limit else 0


def _draw_workload(dice: Dice) -> Workload:
    clients = DEFAULT_CLIENTS[: dice.pick((2, 3, 3))]
    keys = EXPLORER_KEYS[: dice.pick((1, 1, 2))]
    get_weight, put_weight, delete_weight = dice.pick(((6, 3, 1), (4, 5, 1), (3, 6, 1), (5, 5, 0)))
    return Workload(
        clients=clients,
        keys=keys,
        get_weight=get_weight,
        put_weight=put_weight,
        delete_weight=delete_weight,
        request_weight=dice.pick((10, 20, 40)),
    )
