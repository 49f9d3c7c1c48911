"""Real multi-process deployments for the fault and load tests.

A `Cluster` owns: its own redis-server on a free loopback port (never the shared one),
a throwaway SQLite database file, and daphne server processes that share both. Clients
are `websockets` connections carrying real session cookies made in that database.
Everything binds to 127.0.0.1 and every wait is bounded.
"""

import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import orjson
import redis
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from calls.protocol import outgoing_validate

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def port_free() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout}s")


def serves_healthz(proc: subprocess.Popen, base_url: str, *, log: Path, name: str) -> bool:
    """Whether `base_url` answers /healthz with 200; fails at once if the process has exited."""
    if proc.poll() is not None:
        raise RuntimeError(f"{name} exited: {log.read_text()[-2000:]}")
    try:
        with urllib.request.urlopen(f"{base_url}/healthz", timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def rss_kib(pid: int) -> int:
    """Resident memory of a process, from /proc (KiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class RedisServer:
    """A private redis-server: no persistence, so a restart loses every key (the worst case)."""

    def __init__(self, workdir: Path) -> None:
        self.binary = shutil.which("redis-server")
        self.port = port_free()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_connect_timeout=1)

    def start(self) -> None:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        args += ["--dir", str(self.workdir), "--logfile", str(self.workdir / "redis.log")]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._pings, 10, what="redis-server up")

    def _pings(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self, down_for: float = 0.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()

    def keys(self, prefix: str) -> list[bytes]:
        return list(self.client().scan_iter(match=f"{prefix}*", count=1000))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Answer a redirect as it is (its Set-Cookie is what a sign-in returns)."""

    def redirect_request(self, *args, **kwargs):
        return None


def _cookie_set(headers, name: str) -> str | None:
    """The value a response's Set-Cookie headers give cookie `name`, if any."""
    for header in headers.get_all("Set-Cookie") or ():
        found = re.match(rf"{name}=([^;]*)", header)
        if found:
            return found.group(1)
    return None


# The servers as Parley runs them: uvicorn as production does (config.serve: the Dockerfile's
# command), and daphne with Parley's options (config.daphne_server).


class Server:
    """One server process (daphne, or uvicorn) serving the real ASGI application."""

    def __init__(self, cluster: "Cluster", env: dict, name: str, kind: str = "daphne") -> None:
        self.cluster = cluster
        self.env = env
        self.name = name
        self.kind = kind
        self.port = port_free()
        self.proc: subprocess.Popen | None = None
        self.log = cluster.workdir / f"{name}.log"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> "Server":
        # As in production (Dockerfile): Twisted's default listen backlog of 50 resets a join storm.
        endpoint = f"tcp:port={self.port}:interface=127.0.0.1:backlog=2048"
        args = [PYTHON, "-m", "config.daphne_server", "-e", endpoint, "--websocket_connect_timeout", "30"]
        args.append("config.asgi:application")
        if self.kind == "uvicorn":
            args = [PYTHON, "-m", "config.serve", "--host", "127.0.0.1", "--port", str(self.port)]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        wait_until(self._healthy, 30, what=f"server {self.name} up")
        return self

    def _healthy(self) -> bool:
        return serves_healthz(self.proc, self.http, log=self.log, name=f"server {self.name}")

    def get(self, path: str, cookie: str | None = None) -> tuple[int, str, dict]:
        request = urllib.request.Request(f"{self.http}{path}")
        if cookie:
            request.add_header("Cookie", f"sessionid={cookie}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode(), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(), dict(error.headers)

    def form_post(self, path: str, data: dict, cookie: str | None = None) -> tuple[int, str | None]:
        """Fill in the form at `path` as a browser does (its CSRF token, the session cookie) and
        submit it: the status, and the session cookie the answer sets, if any (a sign-in's)."""
        status, page, headers = self._open(path, cookie)
        assert status == 200, (path, status)
        csrf = _cookie_set(headers, "csrftoken") or ""
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": token}).encode()
        jar = f"csrftoken={csrf}" + (f"; sessionid={cookie}" if cookie else "")
        status, _, headers = self._open(path, jar=jar, body=body)
        return status, _cookie_set(headers, "sessionid")

    def sign_in(self, username: str, password: str) -> str:
        """A new session of `username`, through the sign-in form."""
        status, cookie = self.form_post("/accounts/login/", {"username": username, "password": password})
        assert status == 302 and cookie, status
        return cookie

    def _open(self, path: str, cookie: str | None = None, *, jar: str | None = None, body: bytes | None = None):
        request = urllib.request.Request(f"{self.http}{path}", data=body)
        if jar or cookie:
            request.add_header("Cookie", jar or f"sessionid={cookie}")
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(request, timeout=10) as response:
                return response.status, response.read().decode(), response.headers
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(), error.headers

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(15)

    def stop(self) -> None:
        """SIGTERM, and SIGKILL if the process is still there 15 s later."""
        try:
            self.kill(signal.SIGTERM)
        except subprocess.TimeoutExpired:
            self.kill(signal.SIGKILL)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


SEED = """
import json, sys
import django
django.setup()
from django.test import Client
from accounts.models import User
from calls.models import Room
spec = json.loads(sys.stdin.read())
out = {"users": {}, "rooms": []}
for name in spec["users"]:
    user = User.objects.create_user(username=name, password="pw-" + name, display_name=name.title())
    client = Client()
    client.force_login(user)
    out["users"][name] = {"id": user.pk, "cookie": client.cookies["sessionid"].value}
owner = User.objects.get(username=spec["users"][0])
Room.objects.bulk_create([Room(slug=s, name=s, owner=owner, capacity=spec["capacity"]) for s in spec["rooms"]])
out["rooms"] = spec["rooms"]
print(json.dumps(out))
"""


class Cluster:
    """Own Redis + a migrated SQLite file + server processes sharing both."""

    def __init__(self, workdir: Path, *, database_url: str | None = None, **signaling_env: str) -> None:
        self.workdir = workdir
        self.redis = RedisServer(workdir)
        self.prefix = f"parley-rel-{secrets.token_hex(4)}"
        self.db = workdir / "db.sqlite3"
        self.database_url = database_url or f"sqlite:///{self.db}"
        self.servers: list[Server] = []
        self.signaling_env = {
            "SIGNALING_HEARTBEAT": "1",
            "SIGNALING_PEER_TTL": "3",
            **signaling_env,
        }

    def env(self, **extra: str) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "SIGNALING_"))}
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings.test",
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis.url,
            SIGNALING_KEY_PREFIX=self.prefix,
            LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
            DRAIN_NOTICE="0",  # a uvicorn server stopped at teardown drains at once (tests/test_drain.py sets it)
            **self.signaling_env,
        )
        env.update(extra)
        return env

    def setup(self) -> "Cluster":
        self.redis.start()
        subprocess.run(
            [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=self.env(), check=True, timeout=120
        )
        if self.database_url.startswith("sqlite"):
            with contextlib.closing(sqlite3.connect(self.db)) as db:  # two processes write it: WAL
                db.execute("PRAGMA journal_mode=WAL")
        return self

    def seed(self, *, users: list[str], rooms: list[str], capacity: int = 8) -> dict:
        """Create users with real sessions and rooms; returns {"users": {name: {id, cookie}}, "rooms"}."""
        done = subprocess.run(
            [PYTHON, "-c", SEED],
            cwd=ROOT,
            env=self.env(),
            input=json.dumps({"users": users, "rooms": rooms, "capacity": capacity}),
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return json.loads(done.stdout.strip().splitlines()[-1])

    def server(self, name: str, kind: str = "daphne", **extra_env: str) -> Server:
        server = Server(self, self.env(**extra_env), name, kind)
        self.servers.append(server)
        return server.start()

    def teardown(self) -> None:
        for server in self.servers:
            server.stop()
        self.redis.stop()


def pg_admin_url() -> str:
    """The PostgreSQL the test-suite may create throwaway databases in (CI's, or the local one)."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        return "postgres://postgres@127.0.0.1:5432/postgres"
    parts = urlsplit(url)  # the maintenance database: the app's own may not exist yet
    return urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, ""))


def pg_reachable(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


@contextlib.contextmanager
def pg_database(*, host: str | None = None, port: int | None = None):
    """A throwaway database on the shared PostgreSQL (dropped afterwards); yields its URL.

    `host`/`port` override where the app connects (a relay in front of the server).
    """
    import psycopg

    admin = pg_admin_url()
    name = f"parley_rel_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(admin)
    credentials = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    netloc = f"{credentials}{host or parts.hostname or '127.0.0.1'}:{port or parts.port or 5432}"
    try:
        yield urlunsplit((parts.scheme, netloc, f"/{name}", "", ""))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class TcpProxy:
    """A loopback TCP relay to a database that a test can take down and bring back,
    without touching the database server itself (it is shared)."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = port_free()
        self.loop = asyncio.new_event_loop()
        self.server: asyncio.base_events.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _handle(self, client_reader, client_writer) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        self.writers.update((client_writer, upstream_writer))
        await asyncio.gather(self._pipe(client_reader, upstream_writer), self._pipe(upstream_reader, client_writer))
        self.writers.difference_update((client_writer, upstream_writer))

    async def _hold(self, client_reader, client_writer) -> None:
        self.writers.add(client_writer)
        with contextlib.suppress(OSError):
            await client_reader.read()  # until the client gives up
        self.writers.discard(client_writer)

    async def _up(self, handler=None) -> None:
        handler = handler or self._handle
        self.server = await asyncio.start_server(handler, "127.0.0.1", self.port, reuse_address=True)

    async def _down(self) -> None:
        self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()
        await self.server.wait_closed()

    def up(self) -> None:
        self._call(self._up())

    def down(self) -> None:
        """Refuse new connections and cut the open ones: to the app, the database is gone."""
        self._call(self._down())

    def hang(self) -> None:
        """After `down`: take new connections and never answer (a database host that went
        silent, a dropped route)."""
        self._call(self._up(self._hold))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.down()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class Refused(Exception):
    """The server answered the join with an error frame (args[0])."""


class Client:
    """A browser-like signaling client: real cookie, same-origin, pings every heartbeat.

    A reader task collects every frame (each checked against the OUTGOING schema).
    """

    def __init__(self, ws, *, ping: bool = True, ping_every: float = 0.5) -> None:
        self.ping_every = ping_every
        self.ws = ws
        self.frames: list[dict] = []
        self.arrived_at: list[float] = []  # wall clock, one per frame
        self.consumed: set[int] = set()
        self.arrived = asyncio.Event()
        self.closed_code: int | None = None
        self.welcome: dict | None = None
        self.reader = asyncio.get_running_loop().create_task(self._read())
        self.pinger = asyncio.get_running_loop().create_task(self._ping()) if ping else None

    @classmethod
    async def open(
        cls,
        server: Server,
        slug: str,
        cookie: str,
        *,
        origin: str | None = None,
        ping: bool = True,
        ping_every=0.5,
        query: str = "",
    ):
        origin = origin or f"http://127.0.0.1:{server.port}"
        ws = await asyncio.wait_for(
            ws_connect(
                f"{server.ws}/ws/rooms/{slug}/{query}",
                origin=origin,
                additional_headers={"Cookie": f"sessionid={cookie}"},
                open_timeout=20,
                max_size=2**20,
            ),
            30,
        )
        return cls(ws, ping=ping, ping_every=ping_every)

    @classmethod
    async def presence(cls, server: Server, cookie: str) -> "Client":
        """A presence socket (`/ws/presence/`), its `presence` frame read."""
        ws = await asyncio.wait_for(
            ws_connect(
                f"{server.ws}/ws/presence/",
                origin=f"http://127.0.0.1:{server.port}",
                additional_headers={"Cookie": f"sessionid={cookie}"},
                open_timeout=20,
            ),
            30,
        )
        client = cls(ws)
        client.welcome = await client.recv_type("presence", timeout=20)
        return client

    @classmethod
    async def join(cls, server: Server, slug: str, cookie: str, **kwargs) -> "Client":
        client = await cls.open(server, slug, cookie, **kwargs)
        welcome = await client.next_frame(lambda f: True, timeout=20)
        if welcome["type"] != "welcome":
            await client.close()
            raise Refused(welcome)
        client.welcome = welcome
        return client

    @property
    def peer_id(self) -> str:
        return self.welcome["peer_id"]

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                frame = orjson.loads(message)
                outgoing_validate(frame)
                self.frames.append(frame)
                self.arrived_at.append(time.time())
                self.arrived.set()
        except ConnectionClosed:
            pass
        finally:
            self.closed_code = self.ws.close_code
            self.arrived.set()

    async def _ping(self) -> None:
        with contextlib.suppress(ConnectionClosed, asyncio.CancelledError):
            while True:
                await asyncio.sleep(self.ping_every)
                await self.ws.send('{"type":"ping"}')

    def drop(self) -> None:
        """The network goes away under the socket: no close frame, the TCP connection is just cut."""
        self.stop_pinging()
        self.ws.transport.abort()

    def stop_pinging(self) -> None:
        if self.pinger:
            self.pinger.cancel()

    async def send(self, frame: dict | str) -> None:
        await self.ws.send(frame if isinstance(frame, str) else orjson.dumps(frame).decode())

    async def next_frame(self, predicate, timeout: float) -> dict:
        """The first not-yet-consumed frame matching `predicate` (earlier ones stay readable)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for index in range(len(self.frames)):
                if index not in self.consumed and predicate(self.frames[index]):
                    self.consumed.add(index)
                    return self.frames[index]
            if self.reader.done():
                raise ConnectionError(f"socket closed ({self.closed_code}) while waiting")
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError("no matching frame")
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), left)

    async def recv_type(self, kind: str, timeout: float = 10, **fields) -> dict:
        return await self.next_frame(
            lambda f: f["type"] == kind and all(f.get(k) == v for k, v in fields.items()), timeout
        )

    def of_type(self, kind: str) -> list[dict]:
        return [f for f in self.frames if f["type"] == kind]

    async def wait_closed(self, timeout: float) -> int | None:
        await asyncio.wait_for(asyncio.shield(self.reader), timeout)
        return self.closed_code

    async def leave(self) -> None:
        """Leave the room the way the app does (a bare close would keep the seat for a resume)."""
        with contextlib.suppress(ConnectionClosed):
            await self.send({"type": "leave"})
        await self.close()

    async def close(self) -> None:
        self.stop_pinging()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 5)
        self.reader.cancel()
        with contextlib.suppress(BaseException):
            await self.reader
