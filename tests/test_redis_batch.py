"""Auto-pipelining (calls.infra.redis_batch) against the real Redis: one pipeline per loop
turn, each caller its own reply or error, scripts Redis forgot loaded again once."""

import asyncio
import secrets

import pytest

from calls.infra.redis import redis_client_create
from calls.infra.redis_batch import RedisBatcher


@pytest.fixture
def prefix(redis_url):
    prefix = f"parley-test-{secrets.token_hex(4)}"
    yield prefix
    from tests.helpers import redis_delete_prefix

    redis_delete_prefix(redis_url, prefix)


def _count_pipelines(client, monkeypatch) -> list[int]:
    sizes: list[int] = []
    make = client.pipeline

    def counted(*args, **kwargs):
        pipe = make(*args, **kwargs)
        execute = pipe.execute

        async def execute_counted(*a, **k):
            sizes.append(len(pipe.command_stack))
            return await execute(*a, **k)

        pipe.execute = execute_counted
        return pipe

    monkeypatch.setattr(client, "pipeline", counted)
    return sizes


async def test_commands_of_one_turn_share_one_pipeline_and_get_their_own_replies(redis_url, prefix, monkeypatch):
    client = redis_client_create(redis_url)
    sizes = _count_pipelines(client, monkeypatch)
    batcher = RedisBatcher(client)
    await asyncio.gather(*(batcher.execute("SET", f"{prefix}:{n}", n) for n in range(50)))
    replies = await asyncio.gather(*(batcher.execute("GET", f"{prefix}:{n}") for n in range(50)))
    assert replies == [str(n).encode() for n in range(50)]
    assert sizes == [50, 50]
    await client.aclose()


async def test_a_failing_command_fails_only_its_caller(redis_url, prefix):
    client = redis_client_create(redis_url)
    batcher = RedisBatcher(client)
    await client.set(f"{prefix}:text", "not a number")
    results = await asyncio.gather(
        batcher.execute("INCR", f"{prefix}:counter"),
        batcher.execute("INCR", f"{prefix}:text"),
        batcher.execute("INCR", f"{prefix}:counter"),
        return_exceptions=True,
    )
    assert results[0] == 1 and results[2] == 2
    assert "not an integer" in str(results[1])
    await client.aclose()


async def test_scripts_redis_forgot_are_loaded_once_and_run(redis_url, prefix, monkeypatch):
    client = redis_client_create(redis_url)
    script = client.register_script("return redis.call('INCR', KEYS[1])")
    await client.script_flush()  # what a Redis restart does
    loads = []
    make = client.pipeline

    def watched(*args, **kwargs):
        pipe = make(*args, **kwargs)
        immediate = pipe.immediate_execute_command

        async def immediate_watched(*command, **options):
            if command[0] == "SCRIPT LOAD":
                loads.append(command)
            return await immediate(*command, **options)

        pipe.immediate_execute_command = immediate_watched
        return pipe

    monkeypatch.setattr(client, "pipeline", watched)
    batcher = RedisBatcher(client)
    results = await asyncio.gather(*(batcher.script_run(script, keys=[f"{prefix}:n"], args=[]) for _ in range(20)))
    assert sorted(results) == list(range(1, 21))
    assert len(loads) == 1
    again = await asyncio.gather(*(batcher.script_run(script, keys=[f"{prefix}:n"], args=[]) for _ in range(5)))
    assert sorted(again) == list(range(21, 26)) and len(loads) == 1, "a script Redis knows is not loaded again"
    await client.aclose()


async def test_an_unreachable_redis_fails_every_caller(free_port):
    client = redis_client_create(f"redis://127.0.0.1:{free_port}/0")
    batcher = RedisBatcher(client)
    results = await asyncio.gather(*(batcher.execute("GET", f"k{n}") for n in range(5)), return_exceptions=True)
    assert all(isinstance(result, ConnectionError) or "Connect" in type(result).__name__ for result in results)
    await client.aclose()
