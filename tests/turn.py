"""A real coturn `turnserver` for tests, on 127.0.0.1 only.

    from tests.turn import coturn_fixture, coturn_start  # noqa: F401  (registers the `coturn` fixture)

    def test_relay(coturn):                        # random secret in coturn.secret, loopback peers allowed
        ...coturn.url, coturn.secret...

    server = coturn_start(secret="s", production_rules=True, isolated_network=True)
    result = server.uclient(username=..., credential=..., peer="10.0.0.1")
    server.stop()

`production_rules=True` runs deploy/coturn/turnserver.conf itself, minus only the options a test
must replace (ports, TLS files, log file). `isolated_network=True` starts coturn in a fresh network
namespace where only `lo` is up, so nothing it might relay can leave the machine; `netns=PATH` runs
it in an existing one (e.g. /proc/PID/ns/net of a holder process); `uclient()` joins that namespace.
`kill()` and `restart()` take the server down as a crash would and bring it back on the same port.
"""

import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PRODUCTION_CONFIG = Path(__file__).resolve().parent.parent / "deploy" / "coturn" / "turnserver.conf"
# Production options a test replaces: listeners, TLS material, relay range, log destination.
TEST_REPLACED_OPTIONS = {"listening-port", "tls-listening-port", "cert", "pkey", "min-port", "max-port", "log-file"}
TEST_REALM = "parley.test"
START_TIMEOUT = 15.0


class CoturnStartError(RuntimeError):
    """turnserver exited or never listened; the message carries its log."""


@dataclass
class CoturnProcess:
    process: subprocess.Popen
    port: int
    secret: str
    workdir: Path
    isolated_network: bool
    command: list[str]
    netns: str | None = None
    _final_log: str | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def url(self) -> str:
        """The TURN URL for an RTCPeerConnection's iceServers (UDP)."""
        return f"turn:{self.host}:{self.port}?transport=udp"

    @property
    def urls(self) -> list[str]:
        return [self.url, f"turn:{self.host}:{self.port}?transport=tcp"]

    @property
    def log_path(self) -> Path:
        return self.workdir / "turnserver.log"

    def log_text(self) -> str:
        """coturn's log so far (still readable after stop())."""
        if self._final_log is not None:
            return self._final_log
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_wait(self, needle: str, *, since: int = 0, timeout: float = 10.0) -> str:
        """The log from offset `since` once it contains `needle` (coturn may log after the client left).

        Take `since = len(server.log_text())` before an action to look at that action's lines only.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_text()[since:]
            if needle in text:
                return text
            time.sleep(0.1)
        raise AssertionError(f"coturn log never showed {needle!r}:\n{self.log_text()[-4000:]}")

    def uclient_command(
        self,
        *,
        username: str,
        credential: str,
        peer: str | None = None,
        client_to_client: bool = False,
        tcp: bool = False,
        messages: int = 1,
    ) -> list[str]:
        """coturn's own test client against this server (`turnutils_uclient`).

        `client_to_client` (-y) relays between two allocations of the same client; `peer` (-e) asks
        for a permission to that address with a CreatePermission request (-s: send indications, no
        channels).
        """
        binary = shutil.which("turnutils_uclient")
        if binary is None:
            raise RuntimeError("turnutils_uclient is not installed (package coturn)")
        command = [binary, "-p", str(self.port), "-u", username, "-w", credential]
        command += ["-n", str(messages), "-m", "1", "-l", "64", "-X", "-c"]
        if tcp:
            command.append("-t")
        if client_to_client:
            command.append("-y")
        if peer is not None:
            command += ["-s", "-e", peer, "-r", "3480"]
        command.append(self.host)
        if self.isolated_network or self.netns:
            command = ["nsenter", f"--net={self.netns or f'/proc/{self.pid}/ns/net'}", *command]
        return command

    def uclient(self, *, timeout: float = 30.0, **options) -> subprocess.CompletedProcess:
        """Run turnutils_uclient to the end; exit status 0 means the relay worked, output in `.stdout`."""
        return subprocess.run(
            self.uclient_command(**options),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )

    def uclient_start(self, **options) -> subprocess.Popen:
        """Start turnutils_uclient without waiting (the caller stops it by PID)."""
        return subprocess.Popen(self.uclient_command(**options), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def kill(self) -> None:
        """SIGKILL this turnserver, as a crash would: its allocations are gone, its port closed."""
        self.process.kill()
        self.process.wait(timeout=5)

    def restart(self) -> None:
        """Start it again after kill(), on the same port with the same secrets (its log carries on).

        In `netns` it comes back in that namespace; with `isolated_network` alone, in a fresh one.
        """
        if self.process.poll() is None:
            raise RuntimeError("turnserver is still running: kill() it first")
        since = len(self.log_text())
        self.process = _coturn_launch(self.command, self.workdir)
        _coturn_wait_listening(self, since=since)

    def stop(self) -> None:
        """Stop this turnserver by its PID and remove its files (the log stays in memory)."""
        if self._final_log is not None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._final_log = self.log_text()
        shutil.rmtree(self.workdir, ignore_errors=True)


def port_free_for_udp_and_tcp() -> int:
    """A port on 127.0.0.1 that is free for both TCP and UDP (coturn listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port for TCP and UDP on 127.0.0.1")


def network_isolation_available() -> bool:
    """Whether this process may create a network namespace (root, `unshare`, `ip`, `nsenter`)."""
    if not all(shutil.which(tool) for tool in ("unshare", "nsenter", "ip")):
        return False
    probe = subprocess.run(["unshare", "-n", "ip", "link", "set", "lo", "up"], capture_output=True, check=False)
    return probe.returncode == 0


def production_peer_config() -> list[str]:
    """deploy/coturn/turnserver.conf without the options a test must replace."""
    lines = []
    for raw in PRODUCTION_CONFIG.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.split("=", 1)[0].strip() in TEST_REPLACED_OPTIONS:
            continue
        lines.append(line)
    return lines


def coturn_start(*, secret: str | list[str], port: int | None = None, **options) -> CoturnProcess:
    """Start `turnserver` on 127.0.0.1 with use-auth-secret and wait until it listens.

    `secret` may be a list: coturn accepts credentials signed with any of them (secret rotation).
    `allow_loopback` (default: unless production_rules) lets the relay reach 127.0.0.1 peers —
    test config only. `isolated_network` runs coturn in its own network namespace (only `lo`).
    Stop it with `.stop()`.
    """
    if port is not None:
        return _coturn_start_on(secret=secret, port=port, **options)
    for attempt in range(3):  # a free port can be taken by someone else before coturn binds it
        try:
            return _coturn_start_on(secret=secret, port=port_free_for_udp_and_tcp(), **options)
        except CoturnStartError:
            if attempt == 2:
                raise


def _coturn_start_on(
    *,
    secret: str | list[str],
    port: int,
    production_rules: bool = False,
    allow_loopback: bool | None = None,
    isolated_network: bool = False,
    netns: str | None = None,
    relay_ports: tuple[int, int] = (49152, 65535),
) -> CoturnProcess:
    binary = shutil.which("turnserver")
    if binary is None:
        raise RuntimeError("turnserver is not installed (package coturn)")
    if allow_loopback is None:
        allow_loopback = not production_rules
    if production_rules and allow_loopback:
        raise ValueError("production_rules deny loopback peers; allow_loopback would contradict them")
    if isolated_network and netns:
        raise ValueError("isolated_network makes a namespace of its own; netns names an existing one")
    secrets_list = [secret] if isinstance(secret, str) else list(secret)
    if any(not value or any(char.isspace() or char == "#" for char in value) for value in secrets_list):
        raise ValueError("a test TURN secret must be non-empty, without spaces or '#' (it goes in a config file)")
    workdir = Path(tempfile.mkdtemp(prefix="parley-coturn-"))

    if production_rules:
        config = production_peer_config()
    else:
        config = ["use-auth-secret", f"realm={TEST_REALM}", "fingerprint", "no-cli", "no-multicast-peers"]
    config += [f"static-auth-secret={value}" for value in secrets_list]
    config += [
        "listening-ip=127.0.0.1",
        "relay-ip=127.0.0.1",
        f"listening-port={port}",
        f"min-port={relay_ports[0]}",
        f"max-port={relay_ports[1]}",
        "no-tls",
        "no-dtls",
        "verbose",
        f"log-file={workdir / 'turnserver.log'}",
        "simple-log",
        "no-stdout-log",
        f"pidfile={workdir / 'turnserver.pid'}",
        f"userdb={workdir / 'turndb'}",
    ]
    if allow_loopback:
        config.append("allow-loopback-peers")
    config_path = workdir / "turnserver.conf"
    config_path.write_text("\n".join(config) + "\n")

    command = [binary, "-c", str(config_path)]
    if isolated_network:
        # exec keeps the PID: stop() signals turnserver itself, and uclient() joins its namespace.
        command = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *command]
    elif netns:
        command = ["nsenter", f"--net={netns}", *command]  # nsenter execs: the PID is turnserver's too
    server = CoturnProcess(
        process=_coturn_launch(command, workdir),
        port=port,
        secret=secrets_list[0],
        workdir=workdir,
        isolated_network=isolated_network,
        command=command,
        netns=netns,
    )
    _coturn_wait_listening(server, since=0)
    return server


def _coturn_launch(command: list[str], workdir: Path) -> subprocess.Popen:
    with open(workdir / "stderr.txt", "ab") as stderr:
        return subprocess.Popen(command, cwd=workdir, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr)


def _coturn_wait_listening(server: CoturnProcess, *, since: int) -> None:
    """Wait until the log from offset `since` shows both listeners; stop the server and raise if it never does."""
    process, port = server.process, server.port
    ready = (f"UDP listener opened on: 127.0.0.1:{port}", f"TCP listener opened on : 127.0.0.1:{port}")
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log, stderr = server.log_text(), (server.workdir / "stderr.txt").read_text(errors="replace")
            server.stop()
            raise CoturnStartError(f"turnserver exited with {process.returncode}:\n{stderr}\n{log[-4000:]}")
        if all(line in server.log_text()[since:] for line in ready):
            return
        time.sleep(0.05)
    log = server.log_text()
    server.stop()
    raise CoturnStartError(f"turnserver did not listen on 127.0.0.1:{port} within {START_TIMEOUT}s:\n{log[-4000:]}")


@pytest.fixture(name="coturn")
def coturn_fixture(turnserver_bin):
    """A test coturn (loopback peers allowed) with a random shared secret in `.secret`."""
    server = coturn_start(secret=secrets.token_urlsafe(24))
    yield server
    server.stop()


__all__ = [
    "CoturnProcess",
    "CoturnStartError",
    "coturn_fixture",
    "coturn_start",
    "network_isolation_available",
    "port_free_for_udp_and_tcp",
]
