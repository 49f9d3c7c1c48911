"""A socket's way out: its send queue (Outbox). What it may send in is calls.signaling.budgets."""

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable


class Outbox:
    """A socket's send queue, drained by one writer task so frames keep their order.

    Senders never wait for a slow receiver; a receiver whose queue passes `limit`
    is closed (overflow) instead of growing memory without bound. The writer task is
    started by the first frame and parked by the sweeper once the socket has had nothing
    to send for a sweep: an idle socket holds no task (memory), a busy one keeps its task
    (no task per burst), and nothing of a closed socket is left in a reference cycle.
    """

    __slots__ = ("busy", "closed", "limit", "on_overflow", "overflowed", "queue", "send", "task", "waiter")

    def __init__(
        self, send: Callable[[dict], Awaitable[None]], *, limit: int, on_overflow: Callable[[], None] | None = None
    ) -> None:
        self.queue: deque[str | dict] = deque()
        self.send = send
        self.limit = limit
        self.on_overflow = on_overflow
        self.overflowed = False
        self.closed = False
        self.busy = False  # something was queued since the last park()
        self.task: asyncio.Task | None = None
        self.waiter: asyncio.Future | None = None

    def put(self, item: str | dict) -> bool:
        """Queue a text frame, or a close message (which always gets in: nothing may follow it)."""
        if self.closed:
            return False
        if len(self.queue) >= self.limit:
            if isinstance(item, str):
                if not self.overflowed:
                    self.overflowed = True
                    if self.on_overflow is not None:
                        self.on_overflow()
                return False
            self.queue.clear()  # a reader this slow would not see the frames before the close anyway
        self.queue.append(item)
        self.busy = True
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run())
        elif self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)
        return True

    async def _run(self) -> None:
        queue = self.queue
        send = self.send
        loop = asyncio.get_running_loop()
        try:
            while True:
                while queue:
                    item = queue.popleft()
                    if isinstance(item, str):
                        await send({"type": "websocket.send", "text": item})
                    else:  # a close message: nothing may follow it
                        self.closed = True
                        queue.clear()
                        await send(item)
                        return
                self.waiter = loop.create_future()
                await self.waiter
                self.waiter = None
        except OSError:  # the client left (uvicorn's ClientDisconnected): nothing more can be sent
            self.closed = True
            queue.clear()
        finally:
            if self.task is asyncio.current_task():
                self.task = self.waiter = None

    def park(self) -> None:
        """Stop the writer of a socket that had nothing to send since the last call (the sweeper's)."""
        if not self.busy and not self.queue and self.waiter is not None and self.task is not None:
            self.task.cancel()
            self.task = self.waiter = None
        self.busy = False

    def stop(self) -> None:
        self.closed = True
        self.queue.clear()
        self.on_overflow = None  # the socket's method: no cycle back to it
        if self.task is not None:
            self.task.cancel()
