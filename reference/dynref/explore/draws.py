"""Seeded draws for the explorers: a SplitMix64 stream (`dynref.prng`) behind a small API.

A `Dice` holds nothing but the generator's state, an int derived from the parts it was made
from (a seed and a purpose), so the same parts always give the same stream of draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from dynref.prng import choose_index, derive_seed

T = TypeVar("T")


class Dice:
    """A deterministic stream of choices; rates are integers per mille."""

    __slots__ = ("state",)

    def __init__(self, *seed_parts: int | str) -> None:
        self.state = derive_seed(*seed_parts)

    def below(self, count: int) -> int:
        """An index in [0, count)."""
        index, self.state = choose_index(self.state, count)
        return index

    def chance(self, per_mille: int) -> bool:
        return per_mille > 0 and self.below(1000) < per_mille

    def pick(self, options: Sequence[T]) -> T:
        return options[self.below(len(options))]

    def weighted(self, options: Sequence[tuple[T, int]]) -> T:
        """One option, each with probability proportional to its (non-negative) weight."""
        total = sum(weight for _, weight in options)
        if total <= 0:
            raise ValueError("no option has a positive weight")
        point = self.below(total)
        for option, weight in options:
            if point < weight:
                return option
            point -= weight
        raise AssertionError("unreachable")

    def subset(self, items: Sequence[T], per_mille: int) -> tuple[T, ...]:
        """Each item independently with probability `per_mille`, in order."""
        return tuple(item for item in items if self.chance(per_mille))
