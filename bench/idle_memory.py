"""What an idle room socket holds in the server, by tracemalloc: a profile, not a benchmark figure.

    .venv/bin/python bench/idle_memory.py                  # 500 sockets (250 rooms x 2), top 25
    .venv/bin/python bench/idle_memory.py --sockets 1000 --top 40 --group lineno

bench/signaling.py's `--idle` gives the figure (RSS and Redis per socket); this says where the
server's part goes. It prepares the same fixtures (own redis-server, PostgreSQL database, users,
sessions, rooms), then runs the production server in-process with tracemalloc on: uvicorn with
config.serve's options (`python bench/idle_memory.py --serve ...`, a child process), so that
SIGUSR1 can take a snapshot. After a warm-up of 4 sockets, it snapshots, opens the idle sockets
(the benchmark's idle client), snapshots again while they are connected, and prints the
difference per socket grouped by the allocations' innermost `--depth` frames (bytes and blocks
per socket; tracemalloc keeps IDLE_MEMORY_FRAMES=30 frames), then the object types whose count
grew, per socket (gc.get_objects). tracemalloc's own overhead is not in its figures, but the process's RSS
under it is larger than without.
"""

import argparse
import collections
import gc
import os
import pickle
import secrets
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def serve(argv: list[str]) -> None:
    """The server: tracemalloc on, SIGUSR1 writes a snapshot and the live object counts to the
    file named by IDLE_MEMORY_DUMP, then uvicorn with the production options."""
    tracemalloc.start(int(os.environ.get("IDLE_MEMORY_FRAMES", "30")))
    dump = os.environ["IDLE_MEMORY_DUMP"]

    def snapshot(signum, frame) -> None:
        gc.collect()
        counts = collections.Counter(type(obj).__qualname__ for obj in gc.get_objects())
        data = (tracemalloc.take_snapshot(), counts)
        Path(dump + ".tmp").write_bytes(pickle.dumps(data))
        os.replace(dump + ".tmp", dump)

    signal.signal(signal.SIGUSR1, snapshot)
    from config.serve import uvicorn_options

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int)
    known = parser.parse_args(argv)
    import uvicorn.main

    options = uvicorn_options(host="127.0.0.1", port=known.port, forwarded_allow_ips="127.0.0.1")
    uvicorn.main.main(args=[*options, "--log-level", "warning"])


def snapshot_take(proc: subprocess.Popen, dump: Path):
    dump.unlink(missing_ok=True)
    proc.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 120
    while not dump.exists():
        if time.monotonic() > deadline:
            raise RuntimeError("the server wrote no snapshot")
        time.sleep(0.2)
    return pickle.loads(dump.read_bytes())


def where(trace, depth: int) -> str:
    """The innermost `depth` frames (tracemalloc lists the oldest first), innermost first, with
    paths cut to their package."""
    lines = []
    for frame in list(trace)[::-1][:depth]:
        name = frame.filename
        for marker in ("site-packages/", str(ROOT) + "/", "/lib/python3"):
            if marker in name:
                name = name.split(marker, 1)[1]
        lines.append(f"{name}:{frame.lineno}")
    return " < ".join(lines)


def main() -> None:
    if sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", type=int, default=500)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--group", choices=["traceback", "lineno"], default="traceback", help="lineno: one frame")
    parser.add_argument("--depth", type=int, default=4, help="frames shown per traceback group")
    parser.add_argument("--db-name", default="parley_bench")
    parser.add_argument("--save", help="keep the snapshots in this file (for --load)")
    parser.add_argument("--load", help="report on the snapshots of an earlier --save, without a run")
    args = parser.parse_args()
    if args.load:
        report(args, *pickle.loads(Path(args.load).read_bytes()))
        return

    from bench import signaling as bench

    count = args.sockets - args.sockets % 2
    redis = bench.RedisServer()
    proc = None
    try:
        db_url = bench.database_url("postgres", args.db_name)
        env = bench.server_env(redis_url=redis.url, db_url=db_url, prefix="bench")
        cookies, slugs = bench.fixtures_create(env, users=count + 4, rooms=count // 2 + 2)
        prefix = f"bench{secrets.token_hex(3)}"
        env = bench.server_env(redis_url=redis.url, db_url=db_url, prefix=prefix)
        bench.sessions_cache_warm(redis_url=redis.url, prefix=prefix)
        port = bench.free_port()
        dump = Path(os.environ.get("TMPDIR", "/tmp")) / f"idle-memory-{os.getpid()}.pickle"
        env = dict(env, CSRF_TRUSTED_ORIGINS=f"http://{bench.HOST}:{port}", IDLE_MEMORY_DUMP=str(dump))
        log = (Path(os.environ.get("TMPDIR", "/tmp")) / "idle-memory-server.log").open("w")
        command = [sys.executable, __file__, "--serve", "--port", str(port)]
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        bench.wait_port(port, proc, timeout=600)  # imports under tracemalloc are slow

        def spec(rooms: list) -> dict:
            return dict(mode="idle", protocol="parley", host=bench.HOST, rooms=rooms, connect_concurrency=100)

        rooms = [(slugs[r], [(cookies[r * 2 + i], port) for i in range(2)]) for r in range(count // 2 + 2)]
        bench.clients_run([spec(rooms[:2])], lambda index: None)  # warm-up
        time.sleep(2.5)
        rss_before = bench.proc_rss_kb(proc.pid)
        before = snapshot_take(proc, dump)
        after: list = []

        def hook(index: int) -> None:
            if index == 0:
                time.sleep(2.0)
                after.append((bench.proc_rss_kb(proc.pid), snapshot_take(proc, dump)))

        results = bench.clients_run([spec(rooms[2:])], hook)
        welcomed = sum(r["welcomed"] for r in results)
        rss_after, (snap_after, counts_after) = after[0]
        measured = (welcomed, before, snap_after, counts_after, rss_after - rss_before)
        if args.save:
            Path(args.save).write_bytes(pickle.dumps(measured))
        report(args, *measured)
    finally:
        if proc is not None:
            bench.process_stop(proc, signal.SIGINT)
        redis.stop()


def report(args, welcomed: int, before, snap_after, counts_after, rss_kb: int) -> None:
    snap_before, counts_before = before
    keep = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen importlib._bootstrap>")]
    snap_before, snap_after = snap_before.filter_traces(keep), snap_after.filter_traces(keep)
    diff = snap_after.compare_to(snap_before, "traceback")
    total = sum(stat.size_diff for stat in diff)
    n = max(1, welcomed)
    print(f"{welcomed} idle sockets welcomed; per socket: traced {total / n / 1024:.1f} KB, RSS {rss_kb / n:.1f} KB")
    depth = 1 if args.group == "lineno" else args.depth
    groups: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for stat in diff:
        group = groups[where(stat.traceback, depth)]
        group[0] += stat.size_diff
        group[1] += stat.count_diff
    print(f"\n## top {args.top} by the innermost {depth} frames: bytes / blocks per socket")
    for place, (size, blocks) in sorted(groups.items(), key=lambda item: -item[1][0])[: args.top]:
        print(f"{size / n:8.0f} B {blocks / n:6.1f}  {place}")
    grown = [(name, counts_after[name] - counts_before.get(name, 0)) for name in counts_after]
    grown = sorted((item for item in grown if item[1] >= n // 2), key=lambda item: -item[1])
    print("\n## objects tracked by the collector, per socket (count grown by at least half a socket)")
    print(", ".join(f"{name} {grew / n:.2f}" for name, grew in grown))


if __name__ == "__main__":
    main()
