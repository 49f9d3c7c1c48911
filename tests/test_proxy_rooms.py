"""The shipped Caddyfile in front of two web processes: a room's sockets meet in one process.

docker-compose runs WEB_PROCESSES web containers behind Caddy; deploy/caddy/Caddyfile routes
every WebSocket of a room to the same one, so the room is relayed in memory (docs/performance.md
has the speed-up). This runs the real `caddy` binary on the shipped file, with only the
upstreams given (WEB_UPSTREAMS: compose lists its web containers, here the two test processes),
and looks in Redis for the process each peer joined. Caddy's active health checks on /readyz take
a hung or dead process out at once: its rooms' new sockets go to the other.
"""

import asyncio
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis

from calls.signaling.records import PeerRecord
from tests.cluster import ROOT, Client, Cluster, port_free, serves_healthz, wait_until
from tests.conftest import require

CADDYFILE = ROOT / "deploy/caddy/Caddyfile"
ROOMS = [f"affinity{i}" for i in range(16)]
USERS = [f"p{i}" for i in range(2 * len(ROOMS))]
METRICS_TOKEN = "proxy-test-metrics-token"


def caddy_bin() -> str:
    path = shutil.which("caddy")
    require("CADDY", path is not None, "Caddy is not installed")
    return path


class Caddy:
    """The shipped Caddyfile served over plain HTTP on a loopback port, upstreams given."""

    def __init__(self, workdir: Path, upstream_ports: list[int]) -> None:
        self.workdir = workdir
        self.port = port_free()
        self.upstreams = " ".join(f"127.0.0.1:{port}" for port in upstream_ports)
        text = CADDYFILE.read_text()
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
            "WEB_UPSTREAMS": self.upstreams,
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
        servers = [cluster.server("s1", METRICS_TOKEN=METRICS_TOKEN), cluster.server("s2", METRICS_TOKEN=METRICS_TOKEN)]
        caddy = Caddy(workdir, [server.port for server in servers]).start()
        cluster.web = servers
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
    env["WEB_UPSTREAMS"] = "parley-web-1:8000 parley-web-2:8000"
    done = subprocess.run(
        [caddy_bin(), "adapt", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert '"X-Parley-Room"' in done.stdout
    assert '{"dial":"parley-web-1:8000"},{"dial":"parley-web-2:8000"}' in done.stdout
    assert '"active":{"expect_status":200,"interval":1000000000,"timeout":900000000,"uri":"/readyz"}' in done.stdout
    assert '"path":["/metrics*"]' in done.stdout, "Caddy must answer /metrics itself (404), never proxy it"
    assert '"Retry-After":["10"]' in done.stdout, "no process ready: a 503 that says so"


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


async def test_metrics_are_not_proxied_even_with_the_token(proxied):
    cluster, caddy = proxied
    bearer = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    status, body, _ = await asyncio.to_thread(_http_get_full, f"{cluster.web[0].http}/metrics", bearer)
    assert status == 200 and b"parley_room_sockets" in body  # on the internal network, with the token
    for path in ("/metrics", "/metrics/", "/metrics?x=1"):
        status, body, _ = await asyncio.to_thread(_http_get_full, f"http://127.0.0.1:{caddy.port}{path}", bearer)
        assert status == 404 and b"parley_" not in body, path


def _http_get_full(url: str, headers: dict | None = None) -> tuple[int, bytes, dict]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=8) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)
    except OSError:  # timed out: the request reached a process that does not answer
        return 0, b"", {}


@pytest.fixture
def two_behind_caddy(tmp_path):
    """Its own two processes behind Caddy (the test stops one of them)."""
    caddy_bin()
    require("REDIS", shutil.which("redis-server") is not None, "redis-server is not installed")
    cluster = Cluster(tmp_path).setup()
    data = cluster.seed(users=USERS[:12], rooms=ROOMS[:12])
    cluster.cookie = {name: data["users"][name]["cookie"] for name in USERS[:12]}
    caddy = None
    try:
        servers = [cluster.server("s1"), cluster.server("s2")]
        caddy = Caddy(tmp_path, [server.port for server in servers]).start()
        yield cluster, caddy, servers
    finally:
        if caddy:
            caddy.stop()
        for server in cluster.servers:
            if server.proc and server.proc.poll() is None:
                server.proc.send_signal(signal.SIGCONT)
        cluster.teardown()


async def test_a_hung_or_killed_process_is_taken_out_and_its_rooms_new_sockets_go_to_the_other(two_behind_caddy):
    cluster, caddy, (s1, s2) = two_behind_caddy
    probe = await Client.join(s2, ROOMS[11], cluster.cookie[USERS[11]])
    s2_node = node_of(cluster, ROOMS[11], probe.peer_id)
    await probe.close()
    placed = {}
    for index, slug in enumerate(ROOMS[:8]):
        client = await Client.join(caddy, slug, cluster.cookie[USERS[index]])
        placed[slug] = node_of(cluster, slug, client.peer_id)
        await client.close()
    on_s2 = [slug for slug, node in placed.items() if node == s2_node]
    assert on_s2 and len(on_s2) < len(placed), f"the rooms did not spread over both processes: {placed}"

    # Hung: its port still takes connections but nothing answers (a passive check never notices).
    s2.proc.send_signal(signal.SIGSTOP)
    stopped = time.monotonic()
    first = await _join_retrying(caddy, on_s2[0], cluster.cookie[USERS[8]], attempt_timeout=1.0, bound=12.0)
    taken_out_after = time.monotonic() - stopped
    print(f"hung process: first socket of its room served by the other {taken_out_after:.2f}s after SIGSTOP")
    assert node_of(cluster, on_s2[0], first.peer_id) != s2_node
    assert taken_out_after < 4.0, f"the hung process was taken out only after {taken_out_after:.1f}s"
    started = time.monotonic()  # and then at once, for every room it had
    for index, slug in enumerate(on_s2[1:4]):
        client = await Client.join(caddy, slug, cluster.cookie[USERS[9 + index]])
        assert node_of(cluster, slug, client.peer_id) != s2_node
        await client.close()
    assert time.monotonic() - started < 3.0
    await first.close()

    # Killed outright: the same, sockets go to the survivor at once.
    s2.proc.kill()
    s2.proc.wait(10)
    killed = time.monotonic()
    client = await _join_retrying(caddy, on_s2[0], cluster.cookie[USERS[8]], attempt_timeout=1.0, bound=12.0)
    print(f"killed process: its room's next socket served {time.monotonic() - killed:.2f}s after SIGKILL")
    assert time.monotonic() - killed < 3.0
    await client.close()

    # None left ready: once its retries (lb_try_duration, 5 s) find none, Caddy says so (503, Retry-After).
    s1.proc.send_signal(signal.SIGSTOP)
    deadline = time.monotonic() + 15
    while (answer := await asyncio.to_thread(_http_get_full, f"http://127.0.0.1:{caddy.port}/"))[0] != 503:
        assert time.monotonic() < deadline, f"still {answer[0]} with no process ready"
        await asyncio.sleep(0.2)
    _, body, headers = answer
    assert b"briefly unavailable" in body and headers["Retry-After"] == "10"


async def _join_retrying(caddy: Caddy, slug: str, cookie: str, *, attempt_timeout: float, bound: float) -> Client:
    """Join as a reconnecting browser would: attempts of `attempt_timeout` s until one is welcomed."""
    deadline = time.monotonic() + bound
    while True:
        try:
            return await asyncio.wait_for(Client.join(caddy, slug, cookie), attempt_timeout)
        except (TimeoutError, OSError, Exception) as error:
            if time.monotonic() > deadline:
                tail = caddy.log.read_text(errors="replace")[-3000:]
                raise AssertionError(f"no welcome through Caddy within {bound} s ({error!r}); Caddy's log:\n{tail}")
            await asyncio.sleep(0.1)
