"""Fire-and-forget tasks that are not lost to the garbage collector."""

import asyncio

_background: set[asyncio.Task] = set()


def background(coro) -> asyncio.Task:
    """Start a fire-and-forget task, keeping a reference until it ends (the loop keeps only weak ones)."""
    task = asyncio.get_running_loop().create_task(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)
    return task
