"""Bounded batches: a large piece of work in slices, so no single step holds the event loop
for long and no query or pipeline grows with the number of sockets."""

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def slices(items: Sequence[T], size: int) -> list[Sequence[T]]:
    """`items` in consecutive runs of at most `size`."""
    return [items[start : start + size] for start in range(0, len(items), size)]
