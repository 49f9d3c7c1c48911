"""A real Redis Sentinel deployment on loopback ports: a master, a replica and three sentinels.

Debian's `redis-server` and `redis-sentinel`; nothing persisted; every process is killed at the end.
"""

import shutil
import subprocess
import time
from pathlib import Path

import redis

from tests.cluster import port_free, wait_until

MASTER_NAME = "parley"
DOWN_AFTER_MS = 1000  # a master silent this long is "subjectively down" for a sentinel


class SentinelRedis:
    """`url` gives the password and database only: the app asks the sentinels where the master is."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.server_bin = shutil.which("redis-server")
        self.sentinel_bin = shutil.which("redis-sentinel") or self.server_bin
        self.master_port, self.replica_port = port_free(), port_free()
        self.sentinel_ports = [port_free() for _ in range(3)]
        self.procs: dict[str, subprocess.Popen] = {}

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.master_port}/0"

    @property
    def sentinels(self) -> str:
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    def app_env(self) -> dict:
        return {"REDIS_SENTINELS": self.sentinels, "REDIS_SENTINEL_MASTER": MASTER_NAME}

    def _server(self, name: str, port: int, *extra: str) -> None:
        args = [self.server_bin, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        args += ["--dir", str(self.workdir), "--logfile", str(self.workdir / f"{name}.log"), *extra]
        self.procs[name] = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: _pings(port), 10, what=f"{name} up")

    def start(self) -> "SentinelRedis":
        self._server("master", self.master_port)
        self._server("replica", self.replica_port, "--replicaof", "127.0.0.1", str(self.master_port))
        wait_until(self._replica_in_sync, 10, what="replica in sync")
        for index, port in enumerate(self.sentinel_ports):
            config = self.workdir / f"sentinel{index}.conf"  # sentinels rewrite their file: one each
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.workdir}\nlogfile {self.workdir}/sentinel{index}.log\n"
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master_port} 2\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {MASTER_NAME} 10000\n"
                f"sentinel parallel-syncs {MASTER_NAME} 1\n"
            )
            args = [self.sentinel_bin, str(config)]
            if self.sentinel_bin == self.server_bin:
                args.append("--sentinel")
            self.procs[f"sentinel{index}"] = subprocess.Popen(
                args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        wait_until(self._sentinels_agree, 15, what="sentinels see the master and its replica")
        return self

    def _replica_in_sync(self) -> bool:
        info = redis.Redis(port=self.replica_port, socket_connect_timeout=1).info("replication")
        return info.get("master_link_status") == "up"

    def _sentinels_agree(self) -> bool:
        for port in self.sentinel_ports:
            try:
                sentinel = redis.Redis(port=port, socket_connect_timeout=1, decode_responses=True)
                master = sentinel.execute_command("SENTINEL", "MASTER", MASTER_NAME)
                replicas = sentinel.execute_command("SENTINEL", "REPLICAS", MASTER_NAME)
                others = sentinel.execute_command("SENTINEL", "SENTINELS", MASTER_NAME)
            except redis.RedisError:
                return False
            fields = dict(zip(master[::2], master[1::2], strict=True)) if isinstance(master, list) else master
            if int(fields["port"]) != self.master_port or not replicas or len(others) < 2:
                return False
        return True

    def master_port_now(self) -> int | None:
        """The master's port as the first sentinel that answers names it."""
        for port in self.sentinel_ports:
            try:
                sentinel = redis.Redis(port=port, socket_connect_timeout=0.5, socket_timeout=0.5)
                address = sentinel.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
                return int(address[1])
            except (redis.RedisError, TypeError):
                continue
        return None

    def kill_master(self) -> None:
        proc = self.procs.pop("master")
        proc.kill()
        proc.wait(10)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.master_port_now(), socket_connect_timeout=1)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        self.procs.clear()


def _pings(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


def failover_seconds(deployment: SentinelRedis, since: float, timeout: float) -> float:
    """Seconds from `since` (time.monotonic()) until the sentinels name the replica the master."""
    wait_until(lambda: deployment.master_port_now() == deployment.replica_port, timeout, 0.05, what="promotion")
    return time.monotonic() - since
