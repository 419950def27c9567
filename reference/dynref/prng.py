"""A pure pseudo-random generator (SplitMix64): the state is an int passed in and handed back.

The core must not draw randomness from the environment; every choice that looks random (which
peer to compare a Merkle tree with, which range) comes from a seed carried in the node's state.
"""

from __future__ import annotations

MASK64 = (1 << 64) - 1
GOLDEN_GAMMA = 0x9E3779B97F4A7C15


def next_random(state: int) -> tuple[int, int]:
    """Return (a 64-bit pseudo-random number, the next state).

    post: 0 <= __return__[0] <= MASK64
    post: __return__[1] == (state + GOLDEN_GAMMA) & MASK64
    """
    advanced = (state + GOLDEN_GAMMA) & MASK64
    mixed = advanced
    mixed = ((mixed ^ (mixed >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    mixed = ((mixed ^ (mixed >> 27)) * 0x94D049BB133111EB) & MASK64
    return mixed ^ (mixed >> 31), advanced


def choose_index(state: int, count: int) -> tuple[int, int]:
    """Return (an index in [0, count), the next state).

    pre: count > 0
    post: 0 <= __return__[0] < count
    """
    drawn, advanced = next_random(state)
    return drawn % count, advanced


def derive_seed(*parts: int | str) -> int:
    """A 64-bit seed mixed from several parts (a node id, a boot count), deterministically."""
    state = 0
    for part in parts:
        if isinstance(part, str):
            for byte in part.encode():
                state, _ = next_random(state ^ byte)
        else:
            state, _ = next_random(state ^ (part & MASK64))
    return state
