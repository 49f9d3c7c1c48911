"""The production server warms up before it listens (config.warmup), and starts even when it cannot.

A fresh process used to start the signaling node and open its Redis and database connections
inside its first join storm, with every handshake of the storm queued behind that.
"""

import asyncio
import shutil

import pytest

from tests.cluster import Client, Cluster
from tests.conftest import require


@pytest.fixture
def cluster(tmp_path):
    require("REDIS", shutil.which("redis-server") is not None, "redis-server is not installed")
    cluster = Cluster(tmp_path).setup()
    yield cluster
    cluster.teardown()


def test_a_fresh_server_has_its_node_and_connections_before_the_first_socket(cluster):
    data = cluster.seed(users=["ann"], rooms=["warm"])
    redis = cluster.redis.client()
    before = len(redis.client_list())
    server = cluster.server("warm", "uvicorn")
    # Listening means warmed up: the node's bus channel is subscribed and the pools are open.
    assert redis.pubsub_channels(f"{cluster.prefix}:node:*"), "the node was not started at startup"
    assert len(redis.client_list()) - before >= 16, "the Redis pools were not opened at startup"

    async def first_socket():
        client = await Client.join(server, "warm", data["users"]["ann"]["cookie"])
        await client.close()
        return client.welcome

    assert asyncio.run(first_socket())["type"] == "welcome"


def test_a_server_starts_and_serves_with_redis_down(cluster):
    data = cluster.seed(users=["ann"], rooms=["cold"])
    cluster.redis.stop()
    server = cluster.server("cold", "uvicorn")  # waits for /healthz to answer
    assert "warm-up step" in server.log_text()
    cluster.redis.start()

    async def first_socket():
        client = await Client.join(server, "cold", data["users"]["ann"]["cookie"])
        await client.close()
        return client.welcome

    assert asyncio.run(first_socket())["type"] == "welcome", "the node starts on first use once Redis is back"
