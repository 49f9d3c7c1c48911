"""Signaling benchmark: real servers, real protocol, loopback only, bounded in time.

    .venv/bin/python bench/signaling.py                      # the default matrix (see docs/performance.md)
    .venv/bin/python bench/signaling.py --server uvicorn --procs 1 --rooms 100 --peers 2
    .venv/bin/python bench/signaling.py --server uvicorn --procs 2 --placement room   # rooms kept together
    .venv/bin/python bench/signaling.py --compare-seed       # the seed's Node server, Parley x1 and x2, side by side

Starts its own redis-server on a free loopback port (clean `used_memory`), prepares a
PostgreSQL database `parley_bench` (or `--db sqlite`), creates users, session rows and
rooms with the Django ORM (what the sign-in form would store), starts daphne or uvicorn
(as production does: `python -m config.serve`) as subprocesses with the production settings,
and drives them with client processes (bench/loadgen.py). Prints a table and writes JSON with
`--json`. `--compare-seed` also runs the seed's Node server (bench/seed.py) with the same
client and workload and prints a side-by-side table with Parley's ratios to it.
"""

import argparse
import json
import multiprocessing
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = sys.executable
HOST = "127.0.0.1"
TICKS = os.sysconf("SC_CLK_TCK")

# The load exceeds what one person could send: the per-socket and per-user limits are raised.
LOAD_ENV = {
    "SIGNALING_RATE": "1000000",
    "SIGNALING_BURST": "1000000",
    "SIGNALING_USER_RATE": "1000000",
    "SIGNALING_USER_BURST": "1000000",
    "SIGNALING_OUTBOX_LIMIT": "5000",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s")


def process_stop(proc: subprocess.Popen, stop_signal: int) -> None:
    """Ask a server to stop with `stop_signal`; kill it if it has not stopped within 10 s."""
    if proc.poll() is None:
        proc.send_signal(stop_signal)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def machine_busy() -> float:
    """CPU-seconds all cores spent busy since boot (/proc/stat): whether the machine had any left."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / TICKS  # minus idle and iowait


def machine_pressure() -> dict:
    """Load average and CPU pressure (PSI): how much other work competed for the 2 cores."""
    load = float(Path("/proc/loadavg").read_text().split()[0])
    try:
        some = Path("/proc/pressure/cpu").read_text().splitlines()[0]
        stall = float(some.split("avg10=")[1].split()[0])
    except (OSError, IndexError, ValueError):
        stall = None
    return {"loadavg1": load, "cpu_some_avg10": stall}


def machine_description() -> str:
    """Cores, CPU model and the load average now: what a reader needs to weigh the figures."""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        "?",
    )
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return f"{os.cpu_count()} cores ({model}), load average {load}"


def proc_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# --- Infrastructure ----------------------------------------------------------------------------


class RedisServer:
    def __init__(self) -> None:
        self.port = free_port()
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server not found: the benchmark runs its own Redis")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", HOST, "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port, self.proc)
        import redis

        self.client = redis.Redis(host=HOST, port=self.port)

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def used_memory(self) -> int:
        return int(self.client.info("memory")["used_memory"])

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def database_url(kind: str, name: str = "parley_bench") -> str:
    if kind == "sqlite":  # a fresh file per run: parallel runs never share it
        return f"sqlite:///{tempfile.mkdtemp(prefix='parley-bench-')}/db.sqlite3"
    import psycopg
    from psycopg import sql

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def server_env(*, redis_url: str, db_url: str, prefix: str) -> dict:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY="bench-" + "k" * 50,
        ALLOWED_HOSTS=HOST,
        SECURE_SSL_REDIRECT="False",
        REDIS_URL=redis_url,
        DATABASE_URL=db_url,
        CONN_MAX_AGE="60",
        SIGNALING_KEY_PREFIX=prefix,
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    env.update(LOAD_ENV)
    return env


def fixtures_create(env: dict, *, users: int, rooms: int) -> tuple[list[str], list[str]]:
    """Users with a session row each (as after sign-in) and public rooms: returns cookies, slugs."""
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    os.environ.update(env)
    import django

    django.setup()
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    from accounts.models import User
    from calls.models import Room

    names = [f"bench{i:05d}" for i in range(users)]
    existing = set(User.objects.filter(username__in=names).values_list("username", flat=True))
    User.objects.bulk_create(
        [User(username=n, display_name=f"Bench {n[5:]}", password="!") for n in names if n not in existing],
        batch_size=1000,
    )
    people = list(User.objects.filter(username__in=names).order_by("username"))
    store = SessionStore()
    expire = timezone.now() + timezone.timedelta(days=1)
    sessions, cookies = [], []
    for user in people:
        key = secrets.token_hex(16)
        data = {
            SESSION_KEY: str(user.pk),
            BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
            HASH_SESSION_KEY: user.get_session_auth_hash(),
        }
        sessions.append(Session(session_key=key, session_data=store.encode(data), expire_date=expire))
        cookies.append(key)
    Session.objects.bulk_create(sessions, batch_size=1000)
    _session_data.update({s.session_key: store.decode(s.session_data) for s in sessions})
    slugs = [f"bench-{i:05d}" for i in range(rooms)]
    have = set(Room.objects.filter(slug__in=slugs).values_list("slug", flat=True))
    Room.objects.bulk_create(
        [Room(slug=s, name=s, owner=people[0], capacity=8) for s in slugs if s not in have], batch_size=1000
    )
    Room.objects.filter(slug__in=slugs).update(is_active=True, is_locked=False, is_private=False, capacity=8)
    from django.db import connections

    connections.close_all()
    return cookies, slugs


# session key -> data, put in each configuration's session cache (its key prefix differs).
_session_data: dict[str, dict] = {}


def sessions_cache_warm(*, redis_url: str, prefix: str) -> None:
    """With a cached session engine, put the sessions in the server's cache too, as sign-in does."""
    from importlib import import_module

    from django.conf import settings
    from django.core.cache.backends.redis import RedisCache

    engine = import_module(settings.SESSION_ENGINE).SessionStore
    if not hasattr(engine, "cache_key_prefix"):
        return
    cache = RedisCache(redis_url, {"KEY_PREFIX": prefix + ":cache"})
    cache.set_many({engine.cache_key_prefix + key: data for key, data in _session_data.items()}, timeout=86400)


class Server:
    """One ASGI server process under test."""

    def __init__(self, *, kind: str, ws: str, env: dict, log: Path) -> None:
        self.port = free_port()
        if kind == "daphne":
            # Twisted listens with a backlog of 50, and daphne drops a socket whose handshake the
            # application has not accepted in 5 s: a join storm of hundreds would be reset.
            endpoint = f"tcp:port={self.port}:interface={HOST}:backlog=2048"
            cmd = [PYTHON, "-m", "config.daphne_server", "-v", "0", "-e", endpoint, "--websocket_connect_timeout", "30"]
            cmd.append("config.asgi:application")
        else:  # exactly the production command (the Dockerfile's): config.serve runs uvicorn in its own process
            cmd = [PYTHON, "-m", "config.serve", "--host", HOST, "--port", str(self.port), "--log-level", "warning"]
            if ws != "production":  # another implementation than config.serve's
                cmd += ["--ws", ws]
        self.log = log.open("w")
        # Production settings compare the whole Origin: the load generator's is plain http on this port.
        env = dict(env, CSRF_TRUSTED_ORIGINS=f"http://{HOST}:{self.port}")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(self.port, self.proc)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        process_stop(self.proc, signal.SIGINT)
        self.log.close()


def settle(pids: list[int], *, quiet: float = 0.05, timeout: float = 60.0) -> None:
    """Wait until the servers are idle (closing 1,000 sockets takes them a while)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = sum(proc_cpu(pid) for pid in pids)
        time.sleep(1.0)
        if sum(proc_cpu(pid) for pid in pids) - before < quiet * len(pids):
            return


# --- One run ---------------------------------------------------------------------------------


def clients_run(specs: list[dict], phase_hook) -> list[dict]:
    """Run client processes; `phase_hook(index)` is called by the orchestrator at each barrier."""
    ctx = multiprocessing.get_context("fork")
    from bench.loadgen import worker_main

    barrier = ctx.Barrier(len(specs) + 1, timeout=300)
    results = ctx.Queue()
    procs = [ctx.Process(target=worker_main, args=(spec, barrier, results), daemon=True) for spec in specs]
    for proc in procs:
        proc.start()
    barriers = 4 if specs[0]["mode"] == "calls" else 2
    for index in range(barriers):
        barrier.wait()
        phase_hook(index)
    out = [results.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(30)
    return out


def split(items: list, parts: int) -> list[list]:
    return [items[i::parts] for i in range(parts)]


def server_for(servers: list["Server"], placement: str, *, room: int, peer: int) -> "Server":
    """`split`: a room's peers alternate between the processes, so its frames cross Redis;
    `room`: all of a room's peers on one process, rooms alternating (a proxy routing by room)."""
    return servers[(room if placement == "room" else peer) % len(servers)]


def calls_measure(
    args, servers: list[Server], redis: RedisServer, cookies: list[str], slugs: list[str], placement: str
) -> dict:
    peers = args.peers
    rooms = []
    for r in range(args.rooms):
        members = [(cookies[r * peers + i], server_for(servers, placement, room=r, peer=i).port) for i in range(peers)]
        rooms.append((slugs[r], members))
    base = {
        "mode": "calls",
        "protocol": args.protocol,
        "host": HOST,
        "duration": args.duration,
        "setup_timeout": 60,
        "latency_rate": args.latency_rate / args.clients,
        "latency_duration": args.latency_duration,
    }
    specs = [dict(base, rooms=share) for share in split(rooms, args.clients)]
    pids = [s.pid for s in servers] + [redis.proc.pid]
    marks: list[tuple[float, list[float]]] = []
    pressure: list[dict] = []

    def hook(index: int) -> None:
        marks.append((time.monotonic(), [proc_cpu(pid) for pid in pids] + [machine_busy()]))
        if index == 2:
            pressure.append(machine_pressure())
        phase = {"setup": 0, "saturate": 1, "latency": 2}[args.profile_phase]
        if index == phase and args.profile:
            seconds = [15, args.duration, args.latency_duration][phase]
            profile_start(args, servers, seconds)
        if index == phase + 1 and args.profile:
            profile_stop()

    results = clients_run(specs, hook)
    cpu = [[b - a for a, b in zip(marks[i][1], marks[i + 1][1], strict=True)] for i in range(3)]
    setup_start = min(r["setup"]["started"] for r in results)
    finished = [r["setup"]["finished"] for r in results]
    ready = sum(r["setup"]["rooms_ready"] for r in results)
    setup_seconds = (max(finished) - setup_start) if all(finished) else None
    opened = [r["setup"]["first_open"] for r in results if r["setup"]["first_open"]]
    welcomed = [r["setup"]["first_welcome"] for r in results if r["setup"]["first_welcome"]]
    setup_timing = {
        "first_open_ms": (min(opened) - setup_start) * 1000 if opened else None,
        "first_welcome_ms": (min(welcomed) - setup_start) * 1000 if welcomed else None,
    }
    sat_received = sum(r["saturate"]["received"] for r in results)
    sat_elapsed = max(r["saturate"]["elapsed"] for r in results)
    latencies = sorted(x for r in results for x in r["latency"]["latencies"])
    slow = sorted(
        ((at, ms) for r in results for at, ms in zip(r["latency"]["sent_at"], r["latency"]["latencies"], strict=True)),
        key=lambda pair: -pair[1],
    )[:10]
    phase_start = marks[2][0]
    totals = {
        key: sum(r["totals"][key] for r in results)
        for key in ("sent", "received", "duplicated", "gaps", "lost", "error_count", "connect_failure_count")
    }
    totals["errors"] = sorted({e for r in results for e in r["totals"]["errors"]})
    totals["connect_failures"] = [f for r in results for f in r["totals"]["connect_failures"]][:3]
    totals["unexpected_closes"] = [c for r in results for c in r["totals"]["unexpected_closes"]][:10]
    n_servers = len(servers)

    def phase_cpu(index: int, phase: str) -> dict:
        """CPU-seconds of each server, Redis, the clients and the whole machine in one phase."""
        return {
            "servers": cpu[index][:n_servers],
            "redis": cpu[index][n_servers],
            "clients": sum(r[phase]["client_cpu"] for r in results),
            "machine": cpu[index][n_servers + 1],
            "seconds": marks[index + 1][0] - marks[index][0],
        }

    return {
        "rooms": args.rooms,
        "peers": peers,
        "setups_per_s": (args.rooms / setup_seconds) if setup_seconds else None,
        "setup_seconds": setup_seconds,
        "setup_timing": setup_timing,
        "rooms_ready": ready,
        "msgs_per_s": sat_received / sat_elapsed,
        # Per second of server CPU, all processes together: robust when other work shares the machine.
        "msgs_per_server_cpu_s": sat_received / max(1e-9, sum(cpu[1][: len(servers)])),
        "setups_per_server_cpu_s": ready / max(1e-9, sum(cpu[0][: len(servers)])),
        "saturate_cpu": phase_cpu(1, "saturate"),
        "setup_cpu": phase_cpu(0, "setup"),
        "latency_ms": {
            "p50": statistics.median(latencies) if latencies else None,
            "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else None,
            "max": latencies[-1] if latencies else None,
            "samples": len(latencies),
            "rate": args.latency_rate,
            "slowest": [(round(at - phase_start, 3), round(ms, 2)) for at, ms in slow],
        },
        "totals": totals,
        "machine_after_saturate": pressure[0] if pressure else None,
    }


def idle_measure(args, servers: list[Server], redis: RedisServer, cookies: list[str], slugs: list[str]) -> dict:
    count = args.idle - args.idle % 2
    rooms = []
    offset = args.rooms  # rooms not used by the calls run
    for r in range(count // 2):
        members = [(cookies[r * 2 + i], servers[(r * 2 + i) % len(servers)].port) for i in range(2)]
        rooms.append((slugs[offset + r], members))
    specs = [
        dict(mode="idle", protocol=args.protocol, host=HOST, rooms=share, connect_concurrency=100)
        for share in split(rooms, args.clients)
    ]
    # Warm up: the hub, the Redis pools and Django's lazy imports exist before the baseline.
    clients_run([dict(specs[0], rooms=rooms[:2])], lambda index: None)
    time.sleep(2.5)  # as long as after the storm (below): Redis frees idle clients' buffers meanwhile
    before = ([proc_rss_kb(s.pid) for s in servers], redis.used_memory())
    after: list = []

    def hook(index: int) -> None:
        if index == 0:
            time.sleep(2.0)  # let the join storm's transient buffers go
            after.append(([proc_rss_kb(s.pid) for s in servers], redis.used_memory()))

    results = clients_run(specs, hook)
    welcomed = sum(r["welcomed"] for r in results)
    rss_delta = sum(after[0][0]) - sum(before[0])
    # The seed keeps nothing in Redis: what moves there is another run's, not its sockets'.
    redis_delta = (after[0][1] - before[1]) / 1024 if args.protocol == "parley" else 0.0
    return {
        "sockets": count,
        "welcomed": welcomed,
        "server_rss_kb_per_socket": rss_delta / max(1, welcomed),
        "redis_kb_per_socket": redis_delta / max(1, welcomed),
        "kb_per_socket": (rss_delta + redis_delta) / max(1, welcomed),
        "rss_before_kb": before[0],
        "rss_after_kb": after[0][0],
    }


_profilers: list[subprocess.Popen] = []


def profile_start(args, servers: list[Server], seconds: float) -> None:
    spy = shutil.which("py-spy", path=str(Path(PYTHON).parent)) or shutil.which("py-spy")
    if not spy:
        print("py-spy not installed: no profile", file=sys.stderr)
        return
    out = Path(args.profile)
    for i, server in enumerate(servers[:1]):
        target = out.with_suffix(f".{i}{out.suffix or '.txt'}")
        fmt = {".json": "speedscope", ".trace": "chrometrace"}.get(target.suffix, "raw")
        _profilers.append(
            subprocess.Popen(
                [
                    spy,
                    "record",
                    "-p",
                    str(server.pid),
                    "-o",
                    str(target),
                    "-f",
                    fmt,
                    "-d",
                    str(int(seconds) + 1),
                    *args.profile_flags.split(),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )


def profile_stop() -> None:
    for proc in _profilers:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # py-spy writes what it has
        proc.wait(30)
    _profilers.clear()


def config_run(
    args, redis: RedisServer, db_url: str, cookies, slugs, server: str, ws: str, procs: int, placement: str
) -> dict:
    logs = Path(os.environ.get("TMPDIR", "/tmp")) / "parley-bench-logs"
    logs.mkdir(exist_ok=True)
    if server == "seed":
        from bench.seed import SeedServer

        servers = [SeedServer(port=free_port(), log=logs / "seed.log", wait_port=wait_port, stop=process_stop)]
        label = {"server": "seed", "ws": "ws (Node " + servers[0].version + ")", "procs": 1}
    else:
        prefix = f"bench{secrets.token_hex(3)}"
        env = server_env(redis_url=redis.url, db_url=db_url, prefix=prefix)
        sessions_cache_warm(redis_url=redis.url, prefix=prefix)
        servers = [
            Server(kind=server, ws=ws, env=env, log=logs / f"{server}-{ws}-{procs}-{i}.log") for i in range(procs)
        ]
        label = {"server": server, "ws": ws if server == "uvicorn" else "autobahn", "procs": procs}
        if procs > 1:
            label["placement"] = placement
    args.protocol = "seed" if server == "seed" else "parley"
    try:
        result = dict(label)
        if args.idle:  # first, on a fresh server: nothing left over from the load inflates the delta
            result["idle"] = idle_measure(args, servers, redis, cookies, slugs)
        if args.rooms:
            settle([s.pid for s in servers])
            # With --idle 0 the first storm meets a cold server (nothing connected since it started).
            result["calls"] = calls_measure(args, servers, redis, cookies, slugs, placement)
            result["storms"] = [storm_summary(result["calls"])]
            for _ in range(args.repeat - 1):
                settle([s.pid for s in servers])
                again = calls_measure(args, servers, redis, cookies, slugs, placement)
                result["storms"].append(storm_summary(again))
        result["alive"] = all(s.proc.poll() is None for s in servers)
        return result
    finally:
        for s in servers:
            s.stop()


def storm_summary(calls: dict) -> dict:
    """One join storm's figures, to compare a cold server's first with the next ones (--repeat)."""
    return {
        "setups_per_s": calls["setups_per_s"],
        "setups_per_server_cpu_s": calls["setups_per_server_cpu_s"],
        "rooms_ready": calls["rooms_ready"],
        **calls["setup_timing"],
        "msgs_per_server_cpu_s": calls["msgs_per_server_cpu_s"],
    }


def fmt(value, digits=0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def cpu_shares(cpu: dict) -> str:
    """Each process's share of one core in a phase, and how busy the whole machine was."""
    seconds = cpu["seconds"]
    servers = ", ".join(f"{c / seconds:.0%}" for c in cpu["servers"])
    return (
        f"servers {servers}, redis {cpu['redis'] / seconds:.0%}, clients {cpu['clients'] / seconds:.0%} "
        f"(of one core); whole machine {cpu['machine'] / seconds:.2f} of {os.cpu_count()} cores"
    )


def report(result: dict) -> str:
    placement = {"split": ", peers split across them", "room": ", each room on one"}.get(result.get("placement"), "")
    lines = [f"## {result['server']} ({result['ws']}), {result['procs']} process(es){placement}"]
    calls = result.get("calls")
    if calls:
        lat, tot = calls["latency_ms"], calls["totals"]
        lines += [
            f"rooms x peers           {calls['rooms']} x {calls['peers']}",
            f"relayed msgs/s (sat.)   {fmt(calls['msgs_per_s'])}   [target >= 10,000]",
            f"  per server CPU-second {fmt(calls['msgs_per_server_cpu_s'])} (all server processes)",
            f"call set-ups/s          {fmt(calls['setups_per_s'])}   ({calls['rooms_ready']} rooms ready in "
            f"{fmt(calls['setup_seconds'], 2)} s) [target >= 300]",
            f"  per server CPU-second {fmt(calls['setups_per_server_cpu_s'])} (all server processes)",
            f"first handshake         101 after {fmt(calls['setup_timing']['first_open_ms'], 1)} ms, first in its "
            f"room after {fmt(calls['setup_timing']['first_welcome_ms'], 1)} ms (from the storm's start)",
            f"latency @ {lat['rate']}/s        p50 {fmt(lat['p50'], 2)} ms, p99 {fmt(lat['p99'], 2)} ms, "
            f"max {fmt(lat['max'], 2)} ms ({lat['samples']} samples) [target p99 <= 5 ms]",
            f"CPU while setting up    {cpu_shares(calls['setup_cpu'])}",
            f"CPU while saturated     {cpu_shares(calls['saturate_cpu'])}",
            f"machine (other work)    load {calls['machine_after_saturate']['loadavg1']}, CPU pressure "
            f"{calls['machine_after_saturate']['cpu_some_avg10']}% (PSI some avg10, after the saturated phase)",
            f"messages                sent {tot['sent']:,}, received {tot['received']:,}, lost {tot['lost']}, "
            f"duplicated {tot['duplicated']}, gaps {tot['gaps']}",
            f"errors                  {tot['error_count']} {tot['errors']}; connect failures "
            f"{tot['connect_failure_count']} {tot['connect_failures']}; closes {tot['unexpected_closes']}",
        ]
    storms = result.get("storms") or []
    if len(storms) > 1:
        for number, storm in enumerate(storms, 1):
            lines.append(
                f"storm {number}                 {fmt(storm['setups_per_s'])} set-ups/s, "
                f"{fmt(storm['setups_per_server_cpu_s'])} per server CPU-s, first handshake "
                f"{fmt(storm['first_open_ms'], 1)} ms, first welcome {fmt(storm['first_welcome_ms'], 1)} ms"
            )
    idle = result.get("idle")
    if idle:
        lines.append(
            f"idle sockets            {idle['welcomed']}/{idle['sockets']}: {fmt(idle['kb_per_socket'], 1)} KB each "
            f"(server RSS {fmt(idle['server_rss_kb_per_socket'], 1)} + Redis {fmt(idle['redis_kb_per_socket'], 1)})"
            " [target <= 20 KB, issue #17]"
        )
    return "\n".join(lines)


MATRIX = [
    ("uvicorn", "production", 1, "split"),
    ("uvicorn", "production", 2, "room"),
    ("uvicorn", "production", 2, "split"),
    ("uvicorn", "websockets-sansio", 1, "split"),
    ("uvicorn", "websockets", 1, "split"),
    ("daphne", "-", 1, "split"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--server", choices=["daphne", "uvicorn", "seed"], help="one server (default: the matrix); seed: the Node seed"
    )
    parser.add_argument(
        "--compare-seed",
        action="store_true",
        help="side by side: the seed's Node server, Parley x1 and Parley x2 (rooms kept together), 2-peer rooms",
    )
    parser.add_argument("--rounds", type=int, default=1, help="run the configurations N times in turn (medians)")
    parser.add_argument("--repeat", type=int, default=1, help="join storms per server (with --idle 0 the 1st is cold)")
    parser.add_argument(
        "--ws",
        default="production",
        help="uvicorn --ws: production (config.serve's own), websockets-sansio, websockets, wsproto",
    )
    parser.add_argument("--procs", type=int, default=1, help="server processes sharing Redis (see --placement)")
    parser.add_argument(
        "--placement",
        choices=["split", "room"],
        default="split",
        help="with --procs > 1: split a room's peers across processes (default) or keep each room on one",
    )
    parser.add_argument("--rooms", type=int, default=200)
    parser.add_argument("--peers", type=int, default=2)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of saturated relay")
    parser.add_argument("--latency-rate", type=float, default=200.0)
    parser.add_argument("--latency-duration", type=float, default=5.0)
    parser.add_argument("--idle", type=int, default=1000, help="idle sockets for the memory measure (0: skip)")
    parser.add_argument("--clients", type=int, default=1, help="client processes")
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--db-name", default="parley_bench", help="the PostgreSQL database (created if missing)")
    parser.add_argument("--profile", help="py-spy output file for server 0 while saturated (.txt raw, .json)")
    parser.add_argument("--profile-phase", choices=["setup", "saturate", "latency"], default="saturate")
    parser.add_argument("--profile-flags", default="", help="extra py-spy flags, e.g. '--idle --threads'")
    parser.add_argument("--json", help="write all results to this file")
    args = parser.parse_args()
    if args.compare_seed and args.peers != 2:
        parser.error("--compare-seed: the seed's rooms hold 2 peers (--peers 2)")

    redis = RedisServer()
    try:
        db_url = database_url(args.db, args.db_name)
        env = server_env(redis_url=redis.url, db_url=db_url, prefix="bench")
        room_count = args.rooms + args.idle // 2 + 1
        cookies, slugs = fixtures_create(env, users=max(args.rooms * args.peers, args.idle), rooms=room_count)
        configs = [(args.server, args.ws, args.procs, args.placement)] if args.server else MATRIX
        if args.compare_seed:
            configs = [("seed", "-", 1, "split"), ("uvicorn", args.ws, 1, "split"), ("uvicorn", args.ws, 2, "room")]
        results = []
        # --rounds: the configurations run in turn, again and again, so that contention from
        # other work falls on all of them alike; the side-by-side table shows medians.
        for server, ws, procs, placement in configs * args.rounds:
            try:
                result = config_run(args, redis, db_url, cookies, slugs, server, ws, procs, placement)
            except Exception as error:
                from bench.seed import SeedUnavailable

                if not isinstance(error, SeedUnavailable):
                    raise
                print(f"## seed: skipped. {error}", flush=True)
                continue
            results.append(result)
            print(report(result), flush=True)
        print(f"({os.cpu_count()} cores; client processes: {args.clients}; Redis {redis.url}; DB {args.db})")
        if args.compare_seed:
            from bench.seed import compare_table

            print("\n## Side by side (same client and workload; ratios: Parley / seed)\n")
            print(compare_table(results))
            seen = [r["calls"]["machine_after_saturate"] for r in results if r.get("calls")]
            loads = sorted(m["loadavg1"] for m in seen)
            stalls = sorted(m["cpu_some_avg10"] for m in seen if m["cpu_some_avg10"] is not None)
            print(f"\nmachine: {machine_description()}")
            if loads:
                print(f"during the runs: load average {loads[0]}-{loads[-1]}, CPU pressure {stalls[0]}-{stalls[-1]}%")
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2))
    finally:
        redis.stop()


if __name__ == "__main__":
    main()
