"""Redis commands issued in one event-loop turn, sent as one pipeline.

In a join storm hundreds of sockets each need a session read and a seat claim at once.
redis-py 8 spends more CPU taking a pooled connection for a command (a lock, metrics hooks,
a liveness check) than sending it, so those were a third of a join (docs/performance.md).
Like ioredis's auto-pipelining, commands queued during one loop turn go out together, on
one connection, in one write; each caller still gets its own reply or error.
"""

import asyncio
from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from calls.services.tasks import background


class RedisBatcher:
    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.pending: list[tuple[tuple, asyncio.Future]] = []
        self.loading: dict[str, asyncio.Task] = {}  # sha -> its SCRIPT LOAD under way

    async def execute(self, *command):
        """Send `command` with the others of this loop turn; its reply, or its error raised."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.pending.append((command, future))
        if len(self.pending) == 1:
            loop.call_soon(self._flush)
        return await future

    async def evalsha(self, script: AsyncScript, *, keys: Sequence, args: Sequence):
        """Run a registered script. Redis may not know it (a fresh or restarted server): then it
        is loaded once, however many calls found it missing, and they run again."""
        try:
            return await self.execute("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            loading = self.loading.get(script.sha)
            if loading is None:
                loading = self.loading[script.sha] = background(self.execute("SCRIPT", "LOAD", script.script))
                loading.add_done_callback(lambda _: self.loading.pop(script.sha, None))
            await asyncio.shield(loading)
            return await self.execute("EVALSHA", script.sha, len(keys), *keys, *args)

    def _flush(self) -> None:
        batch, self.pending = self.pending, []
        background(self._send(batch))

    async def _send(self, batch: list[tuple[tuple, asyncio.Future]]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for command, _ in batch:
            pipe.execute_command(*command)
        try:
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
