"""Redis commands issued in one event-loop turn, sent as one pipeline.

In a join storm hundreds of sockets each need a session read and a seat claim at once.
redis-py 8 spends more CPU taking a pooled connection for a command (a lock, metrics hooks,
a liveness check) than sending it, so those were a third of a join (docs/performance.md).
Like ioredis's auto-pipelining, commands queued during one loop turn go out together, on
one connection, in one write; each caller still gets its own reply or error.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript

from calls.infra.tasks import background

Queue = Callable[[Pipeline], Awaitable]  # puts one command on the pipeline


class RedisBatcher:
    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.pending: list[tuple[Queue, asyncio.Future]] = []

    async def execute(self, *command):
        """Send `command` with the others of this loop turn; its reply, or its error raised."""
        return await self._queued(lambda pipe: pipe.execute_command(*command))

    async def script_run(self, script: AsyncScript, *, keys: Sequence, args: Sequence):
        """Run a registered script with the others of this loop turn. redis-py's pipeline makes
        sure Redis knows it first (a fresh or restarted server): one SCRIPT EXISTS per pipeline
        that has scripts, and one SCRIPT LOAD for each it lacks, however many calls use it."""
        return await self._queued(lambda pipe: script(keys, args, client=pipe))

    async def _queued(self, queue: Queue):
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.pending.append((queue, future))
        if len(self.pending) == 1:
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        batch, self.pending = self.pending, []
        background(self._send(batch))

    async def _send(self, batch: list[tuple[Queue, asyncio.Future]]) -> None:
        pipe = self.client.pipeline(transaction=False)
        try:
            for queue, _ in batch:
                await queue(pipe)  # queues only: a pipeline sends nothing before `execute`
            replies = await pipe.execute(raise_on_error=False)
        except Exception as error:
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        for (_, future), reply in zip(batch, replies, strict=True):
            if not future.done():
                if isinstance(reply, Exception):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)
