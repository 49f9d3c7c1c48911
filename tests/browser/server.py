"""The real app for browser tests: daphne in a subprocess on 127.0.0.1, file SQLite, seeded users.

pytest-django's live_server is WSGI-only, so the ASGI app (HTTP + WebSocket) runs as its own
process; a test can kill it and start it again on the same port.

Where the machine allows it, the server, Chromium (and coturn) share a fresh network namespace
in which only `lo` is up: then every ICE candidate is 127.0.0.1 by construction. Elsewhere the
client's test-only loopback filter (WEBRTC_LOOPBACK_ONLY) keeps checks on 127.0.0.1.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0
PASSWORD_PREFIX = "pw-"
USERS = {"alice": "Alice Liddell", "bob": "Bob Builder", "carol": "Carol <b>Danvers</b>", "dave": "Dave"}
ROOMS = [
    "pair",
    "mute",
    "chat",
    "mesh",
    "denied",
    "relay",
    "restart",
    "resume",
    "shots",
    "screen",
    "glare",
    "full",
    "moderate",
    "devices",
    "nodevices",
    "switch",
    "axe",
    "stage",
    "phone",
    "network",
    "present",
    "invite",
    "media",
    "record",
    "rescue",
    "hands",
    "occupancy",
    "seat",
    "removal",
    "knock",
    "views",
    "away",
]

SEED = f"""
from accounts.models import User
from calls.models import Room
for username, name in {USERS!r}.items():
    User.objects.create_user(username=username, password={PASSWORD_PREFIX!r} + username, display_name=name)
owner = User.objects.get(username="alice")
for slug in {ROOMS!r}:
    Room.objects.create(
        slug=slug, name="Room " + slug.title(), owner=owner, capacity=2 if slug in ("full", "seat") else 8,
        is_private=slug in ("invite", "knock"),
    )
"""

PREPARE = """
from django.core.management import call_command
call_command("migrate", interactive=False, verbosity=0)
call_command("collectstatic", interactive=False, verbosity=0)
"""

# Settings a developer's shell or CI may carry that must not reach the test server.
SCRUBBED = ("DATABASE_URL", "REDIS_URL", "SIGNALING_BACKEND", "TURN_URLS", "TURN_SECRET", "STUN_URLS")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _manage(env: dict, *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True)


def prepare_workdir() -> Path:
    """A migrated, seeded SQLite database and collected static files, made once per session."""
    workdir = Path(tempfile.mkdtemp(prefix="parley-browser-"))
    env = base_env(workdir)
    # One Django start instead of three (each costs seconds on a busy machine).
    _manage(env, "shell", "-c", PREPARE + SEED)
    return workdir


def base_env(workdir: Path) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in SCRUBBED}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=f"sqlite:///{workdir / 'db.sqlite3'}",
        STATIC_ROOT=str(workdir / "static"),
        WEBRTC_LOOPBACK_ONLY="1",
        ICE_TRANSPORT_POLICY="all",
        PYTHONUNBUFFERED="1",
    )
    return env


def isolation_available() -> bool:
    """Whether this process may create a network namespace (root or user namespaces, util-linux, iproute2).

    BROWSER_TEST_NETNS=0 turns the namespace off, to run the loopback-filter path on purpose.
    """
    if os.environ.get("BROWSER_TEST_NETNS") == "0":
        return False
    if not all(shutil.which(tool) for tool in ("unshare", "nsenter", "ip")):
        return False
    probe = subprocess.run(["unshare", "-n", "ip", "link", "set", "lo", "up"], capture_output=True, check=False)
    return probe.returncode == 0


class Netns:
    """A network namespace with only `lo` up, held open by a sleeping process (or by another, e.g. coturn)."""

    def __init__(self, holder_pid: int | None = None) -> None:
        self.process = None
        if holder_pid is None:
            self.process = subprocess.Popen(
                ["unshare", "-n", "sh", "-c", "ip link set lo up && exec sleep infinity"], stdin=subprocess.DEVNULL
            )
            holder_pid = self.process.pid
            deadline = time.monotonic() + 10
            while os.readlink(f"/proc/{holder_pid}/ns/net") == os.readlink("/proc/self/ns/net"):
                if time.monotonic() > deadline:
                    raise RuntimeError("unshare did not create a network namespace")
                time.sleep(0.02)
            time.sleep(0.1)  # `ip link set lo up` runs before the exec
        self.path = f"/proc/{holder_pid}/ns/net"

    def wrap(self, command: list[str]) -> list[str]:
        return ["nsenter", f"--net={self.path}", *command]

    def chromium_wrapper(self, chromium: str, workdir: Path) -> str:
        """An executable that starts Chromium inside this namespace (Playwright talks to it over a pipe)."""
        script = workdir / f"chromium-netns-{os.getpid()}-{time.monotonic_ns()}.sh"
        script.write_text(f'#!/bin/sh\nexec nsenter --net={self.path} {chromium} "$@"\n')
        script.chmod(0o755)
        return str(script)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=10)


HEALTH_POLL = """
import sys, time, urllib.request
deadline = time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=2) as response:
            if response.status == 200:
                sys.exit(0)
    except OSError:
        time.sleep(0.2)
sys.exit(1)
"""


class AppServer:
    """One daphne process serving config.asgi on 127.0.0.1:<port> (in `netns` when given)."""

    def __init__(self, workdir: Path, extra_env: dict | None = None, netns: Netns | None = None) -> None:
        self.workdir = workdir
        self.netns = netns
        self.port = free_port()
        self.env = base_env(workdir) | (extra_env or {})
        self.process: subprocess.Popen | None = None
        self.log_path = workdir / f"daphne-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wrap(self, command: list[str]) -> list[str]:
        return self.netns.wrap(command) if self.netns else command

    def start(self) -> None:
        command = [
            sys.executable,
            "-m",
            "config.daphne_server",
            "-b",
            "127.0.0.1",
            "-p",
            str(self.port),
            "config.asgi:application",
        ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.wrap(command), cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        poll = self.wrap([sys.executable, "-c", HEALTH_POLL, f"{self.url}/healthz", str(START_TIMEOUT)])
        ready = subprocess.run(poll, check=False, timeout=START_TIMEOUT + 10).returncode == 0
        if self.process.poll() is not None:
            raise RuntimeError(f"daphne exited with {self.process.returncode}:\n{self.log()}")
        if not ready:
            raise RuntimeError(f"daphne did not answer on {self.url} within {START_TIMEOUT}s:\n{self.log()}")

    def kill(self) -> None:
        """Stop the process the hard way, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except FileNotFoundError:
            return ""


def remove_workdir(workdir: Path) -> None:
    shutil.rmtree(workdir, ignore_errors=True)
