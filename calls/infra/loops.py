"""One value per event loop: the infrastructure's clients, pools and batchers.

asyncio connections belong to the loop that opened them. A server process has one loop, but
the test suite and `async_to_sync` run many, one after another: each gets its own, and a
closed loop's are dropped with it.
"""

import asyncio
import weakref
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class LoopLocal(Generic[T]):
    """`get()` is the running loop's value, made by `factory` on first use there."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self.factory = factory
        self.values: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = weakref.WeakKeyDictionary()

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        try:
            return self.values[loop]
        except KeyError:
            value = self.values[loop] = self.factory()
            return value

    def drain(self) -> Iterator[T]:
        """Every loop's value, each forgotten as it is given."""
        while self.values:
            yield self.values.popitem()[1]
