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

    On Parley's own server (config.ws_protocol), whose `send` belongs to a protocol with
    `text_send_now(text) -> bool`, a text frame is written at once while nothing waits before
    it (no writer task) and the socket takes writes; the queue and its writer exist only while
    it does not (writes paused, closing), and the writer ends when it has drained them. An
    idle socket then holds no task, future or deque (~1.6 KB of the ~20 KB of an idle socket:
    docs/performance.md, "What an idle socket holds"), and a relayed frame costs no message
    dict, coroutine or task wake-up.
    """

    __slots__ = (
        "busy",
        "closed",
        "limit",
        "on_overflow",
        "overflowed",
        "queue",
        "send",
        "send_now",
        "task",
        "waiter",
    )

    def __init__(
        self, send: Callable[[dict], Awaitable[None]], *, limit: int, on_overflow: Callable[[], None] | None = None
    ) -> None:
        self.queue: deque[str | dict] | None = None  # made when a frame has to wait
        self.send = send
        self.send_now: Callable[[str], bool] | None = getattr(getattr(send, "__self__", None), "text_send_now", None)
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
        if self.task is None and self.send_now is not None and isinstance(item, str) and self.send_now(item):
            return True
        queue = self.queue
        if queue is None:
            queue = self.queue = deque()
        if len(queue) >= self.limit:
            if isinstance(item, str):
                if not self.overflowed:
                    self.overflowed = True
                    if self.on_overflow is not None:
                        self.on_overflow()
                return False
            queue.clear()  # a reader this slow would not see the frames before the close anyway
        queue.append(item)
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
                if self.send_now is not None:  # the next frames are written at once again
                    self.queue = None
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
        if self.queue is not None:
            self.queue.clear()
        self.on_overflow = None  # the socket's method: no cycle back to it
        if self.task is not None:
            self.task.cancel()
