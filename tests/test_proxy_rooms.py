"""The shipped Caddyfile in front of two web processes: a room's sockets meet in one process.

docker-compose runs WEB_PROCESSES web containers behind Caddy; deploy/caddy/Caddyfile routes
every WebSocket of a room to the same one, so the room is relayed in memory (docs/performance.md
has the speed-up). This runs the real `caddy` binary on the shipped file, with only the
upstreams changed (compose's DNS name `web` becomes the two test processes), and looks in
Redis for the process each peer joined.
"""

import asyncio
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import redis

from calls.services.room_state import PeerRecord
from tests.cluster import ROOT, Client, Cluster, port_free, serves_healthz, wait_until
from tests.conftest import require

CADDYFILE = ROOT / "deploy/caddy/Caddyfile"
UPSTREAMS = re.compile(r"dynamic a web 8000 \{[^}]*\}")
ROOMS = [f"affinity{i}" for i in range(16)]
USERS = [f"p{i}" for i in range(2 * len(ROOMS))]


def caddy_bin() -> str:
    path = shutil.which("caddy")
    require("CADDY", path is not None, "Caddy is not installed")
    return path


class Caddy:
    """The shipped Caddyfile served over plain HTTP on a loopback port, upstreams replaced."""

    def __init__(self, workdir: Path, upstream_ports: list[int]) -> None:
        self.workdir = workdir
        self.port = port_free()
        text = CADDYFILE.read_text()
        assert UPSTREAMS.search(text), "the Caddyfile no longer finds the web processes by DNS"
        text = UPSTREAMS.sub("to " + " ".join(f"127.0.0.1:{port}" for port in upstream_ports), text)
        # No admin endpoint (parallel runs would fight over :2019); the site is plain HTTP.
        text = text.replace("{\n\temail {$ACME_EMAIL}\n}", "{\n\tadmin off\n}", 1)
        self.config = workdir / "Caddyfile"
        self.config.write_text(text)
        self.log = workdir / "caddy.log"
        self.proc: subprocess.Popen | None = None

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> "Caddy":
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(self.workdir),
            "XDG_DATA_HOME": str(self.workdir / "data"),
            "XDG_CONFIG_HOME": str(self.workdir / "config"),
            "PARLEY_DOMAIN": f"http://127.0.0.1:{self.port}",
        }
        args = [caddy_bin(), "run", "--config", str(self.config), "--adapter", "caddyfile"]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        base_url = f"http://127.0.0.1:{self.port}"
        wait_until(lambda: serves_healthz(self.proc, base_url, log=self.log, name="caddy"), 20, what="caddy up")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    caddy_bin()
    require("REDIS", shutil.which("redis-server") is not None, "redis-server is not installed")
    workdir = tmp_path_factory.mktemp("proxy")
    cluster = Cluster(workdir, SIGNALING_RESUME_GRACE="20").setup()
    data = cluster.seed(users=USERS, rooms=ROOMS)
    cluster.cookie = {name: data["users"][name]["cookie"] for name in USERS}
    caddy = None
    try:
        servers = [cluster.server("s1"), cluster.server("s2")]
        caddy = Caddy(workdir, [server.port for server in servers]).start()
        yield cluster, caddy
    finally:
        if caddy:
            caddy.stop()
        cluster.teardown()


def node_of(cluster: Cluster, slug: str, peer_id: str) -> str:
    """The process that holds this peer's socket, as every process sees it in Redis."""
    raw = redis.Redis.from_url(cluster.redis.url).hget(f"{cluster.prefix}:room:{slug}:peers", peer_id)
    return PeerRecord.loads(raw).node


async def leave(*clients: Client) -> None:
    for client in clients:
        await client.leave()


def test_the_shipped_caddyfile_is_valid_for_caddy(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PARLEY_DOMAIN": "parley.example.com"}
    env["ACME_EMAIL"] = "ops@example.com"
    done = subprocess.run(
        [caddy_bin(), "adapt", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert '"dynamic_upstreams"' in done.stdout and '"X-Parley-Room"' in done.stdout


async def test_each_rooms_sockets_meet_in_one_process_and_rooms_spread_over_both(proxied):
    cluster, caddy = proxied
    pairs = []
    for index, slug in enumerate(ROOMS):
        first = await Client.join(caddy, slug, cluster.cookie[USERS[2 * index]])
        second = await Client.join(caddy, slug, cluster.cookie[USERS[2 * index + 1]])
        pairs.append((slug, first, second))
    nodes = {slug: {node_of(cluster, slug, c.peer_id) for c in (first, second)} for slug, first, second in pairs}
    assert all(len(held) == 1 for held in nodes.values()), f"a room's peers were split: {nodes}"
    assert len(set().union(*nodes.values())) == 2, "every room went to one process"

    slug, first, second = pairs[0]  # and the call is relayed through the proxy
    await first.send({"type": "offer", "to": second.peer_id, "sdp": "v=0 through caddy"})
    assert await second.recv_type("offer") == {"type": "offer", "from": first.peer_id, "sdp": "v=0 through caddy"}
    await asyncio.gather(*(leave(first, second) for _, first, second in pairs))


async def test_a_reconnect_with_its_resume_token_returns_to_its_rooms_process(proxied):
    cluster, caddy = proxied
    slug = ROOMS[0]
    staying = await Client.join(caddy, slug, cluster.cookie[USERS[0]])
    dropped = await Client.join(caddy, slug, cluster.cookie[USERS[1]])
    dropped.drop()
    token = dropped.welcome["resume_token"]
    back = await Client.join(caddy, slug, cluster.cookie[USERS[1]], query=f"?resume={token}")
    assert back.welcome["resumed"] is True and back.peer_id == dropped.peer_id
    assert node_of(cluster, slug, back.peer_id) == node_of(cluster, slug, staying.peer_id)
    await staying.send({"type": "chat", "text": "still here"})
    assert (await back.recv_type("chat"))["text"] == "still here"
    await leave(staying, back)
