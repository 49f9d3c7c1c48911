"""docker-compose.yml, the Dockerfile, Caddy and .env.example, checked as an operator relies on them.

The Docker engine is not available to the tests; `docker compose config` runs when the
compose client is installed, and the file is otherwise checked by parsing it.
"""

import ipaddress
import math
import re
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
VARIABLE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)")
REQUIRED_VARIABLE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*):\?")
SETTINGS_VARIABLE = re.compile(r"\benv(?:\.\w+)?\(\s*\"([A-Z_][A-Z0-9_]*)\"")
SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASS\b|TOKEN|KEY", re.IGNORECASE)

# Relaying to these would let a TURN user reach the operator's own networks.
MUST_DENY = [
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "127.0.0.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # CGNAT
    "100.127.255.254",
    "0.0.0.0",
    "::1",
    "::ffff:10.0.0.1",  # IPv4-mapped IPv6
    "::ffff:127.0.0.1",
    "fd00::1",  # unique local
    "fe80::1",  # link-local
]
MAY_RELAY = ["8.8.8.8", "100.128.0.1", "172.32.0.1", "2001:4860:4860::8888"]


def env_example_names() -> set[str]:
    names = set()
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.match(r"#?\s*([A-Z_][A-Z0-9_]*)=", line.strip())
        if match:
            names.add(match.group(1))
    return names


def looks_like_a_secret(token: str) -> bool:
    """Long, mixed letters and digits, and random-looking (high entropy per character)."""
    if len(token) < 20 or not re.search(r"\d", token) or not re.search(r"[A-Za-z]", token):
        return False
    counts = [token.count(char) for char in set(token)]
    entropy = -sum(n / len(token) * math.log2(n / len(token)) for n in counts)
    return entropy >= 3.5


def all_strings(node):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from all_strings(key)
            yield from all_strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from all_strings(item)
    elif node is not None:
        yield str(node)


def coturn_args() -> list[str]:
    return [str(arg) for arg in SERVICES["coturn"]["command"]]


def parse_range(text: str):
    first, _, last = text.partition("-")
    return ipaddress.ip_address(first), ipaddress.ip_address(last or first)


def denied(address: str, ranges: list[str]) -> bool:
    ip = ipaddress.ip_address(address)
    for text in ranges:
        first, last = parse_range(text)
        if first.version == ip.version and first <= ip <= last:
            return True
    return False


def test_the_services_each_with_a_healthcheck():
    assert set(SERVICES) == {"migrate", "web", "postgres", "redis", "coturn", "caddy", "prometheus", "grafana"}
    for name, service in SERVICES.items():
        if name == "migrate":  # runs once and exits
            continue
        check = service.get("healthcheck", {})
        assert check.get("test") and not check.get("disable"), f"{name} has no healthcheck"
    assert "/readyz" in " ".join(SERVICES["web"]["healthcheck"]["test"])


def test_images_are_pinned_to_the_right_majors():
    assert SERVICES["postgres"]["image"] == "postgres:16"
    assert SERVICES["redis"]["image"] == "redis:7"
    assert SERVICES["caddy"]["image"] == "caddy:2"
    image, _, tag = SERVICES["coturn"]["image"].partition(":")
    assert image == "coturn/coturn"
    version = re.match(r"(\d+)\.(\d+)\.(\d+)", tag)
    assert version, f"coturn must be pinned to a release, not {tag!r}"
    major, minor, _ = map(int, version.groups())
    assert major == 4 and minor >= 9, f"coturn {tag} is older than 4.9"


def test_web_is_built_here_and_runs_the_production_server_after_migrations():
    web = SERVICES["web"]
    assert web["build"] in (".", {"context": "."})
    assert web["environment"]["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.MULTILINE)
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in ("root", "0"), "the app must not run as root"
    command = re.search(r"^CMD (.+)$", dockerfile, re.MULTILINE).group(1)
    steps = [command.index(step) for step in ("migrate", "collectstatic", "exec python -m config.serve")]
    assert steps == sorted(steps)
    assert "--host 0.0.0.0" in command and "--port 8000" in command
    assert {"postgres", "redis"} <= set(web["depends_on"])
    assert web["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert ".env" in (ROOT / ".dockerignore").read_text().split(), "the image must not carry .env"


def test_a_stopped_web_process_has_time_to_drain_before_docker_kills_it():
    """SIGTERM drains (config/serve.py) for at most DRAIN_TIMEOUT; Docker SIGKILLs after stop_grace_period."""
    from django.conf import settings

    grace = SERVICES["web"]["stop_grace_period"]
    assert grace.endswith("s") and int(grace[:-1]) >= settings.DRAIN_TIMEOUT + 5
    stop_signal = re.findall(r"^STOPSIGNAL\s+(\S+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert stop_signal in ([], ["SIGTERM"]), "config/serve.py drains on SIGTERM only"


def test_web_trusts_proxy_headers_from_caddy_only():
    """uvicorn takes X-Forwarded-For from FORWARDED_ALLOW_IPS: Caddy's fixed address, not '*'."""
    trusted = SERVICES["web"]["environment"]["FORWARDED_ALLOW_IPS"]
    [caddy_address] = [net["ipv4_address"] for net in SERVICES["caddy"]["networks"].values()]
    assert trusted == caddy_address and "*" not in trusted
    [subnet] = [pool["subnet"] for pool in COMPOSE["networks"]["default"]["ipam"]["config"]]
    assert subnet.removesuffix(".0/24") == caddy_address.removesuffix(".2")


def test_several_web_processes_start_after_one_migration():
    web, migrate = SERVICES["web"], SERVICES["migrate"]
    assert web["deploy"]["replicas"] == "${WEB_PROCESSES:-2}"
    assert migrate["image"] == web["image"] and migrate["build"] == web["build"]
    assert migrate["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert migrate["environment"] == web["environment"], "the same settings and database"
    assert migrate["restart"] == "no", "a one-shot job must not be restarted after it succeeds"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_turn_secret_is_shared_by_web_and_coturn():
    assert SERVICES["web"]["environment"]["TURN_SECRET"].startswith("${TURN_SECRET:?")
    secret_args = [arg for arg in coturn_args() if arg.startswith("--static-auth-secret=")]
    assert len(secret_args) == 1
    assert secret_args[0].startswith("--static-auth-secret=${TURN_SECRET:?")
    assert "--use-auth-secret" in coturn_args()


def test_coturn_hardening_flags_and_quotas():
    args = coturn_args()
    for flag in ("--no-cli", "--no-multicast-peers"):
        assert flag in args
    assert any(arg.startswith("--realm=${PARLEY_DOMAIN") for arg in args)
    assert any(arg.startswith("--user-quota=") for arg in args)
    assert any(arg.startswith("--total-quota=") for arg in args)
    mounts = [str(volume).split(":")[:2] for volume in SERVICES["coturn"]["volumes"]]
    assert ["./deploy/coturn/turnserver.conf", "/etc/coturn/turnserver.conf"] in mounts
    assert args[args.index("-c") + 1] == "/etc/coturn/turnserver.conf"


def test_coturn_refuses_to_relay_to_internal_networks():
    ranges = [arg.split("=", 1)[1] for arg in coturn_args() if arg.startswith("--denied-peer-ip=")]
    for address in MUST_DENY:
        assert denied(address, ranges), f"coturn would relay to {address}"
    for address in MAY_RELAY:
        assert not denied(address, ranges), f"{address} is public but denied"


def test_the_mounted_turnserver_conf_has_the_same_rules():
    conf = ROOT / "deploy/coturn/turnserver.conf"
    lines = [line.strip() for line in conf.read_text().splitlines() if line.strip() and not line.startswith("#")]
    for option in ("use-auth-secret", "no-cli", "no-multicast-peers"):
        assert option in lines
    assert not any(line.startswith("static-auth-secret") for line in lines), "the secret belongs in .env"
    ranges = [line.split("=", 1)[1] for line in lines if line.startswith("denied-peer-ip=")]
    for address in MUST_DENY:
        assert denied(address, ranges), f"turnserver.conf would relay to {address}"


def test_no_secret_is_written_into_the_compose_file():
    for name, service in SERVICES.items():
        environment = service.get("environment", {})
        assert isinstance(environment, dict), f"{name}: use the mapping form for environment"
        for key, value in environment.items():
            if SECRET_NAME.search(key):
                assert REQUIRED_VARIABLE.search(str(value)), f"{name}.{key} must come from .env as ${{{key}:?}}"
    for text in all_strings(COMPOSE):
        without_variables = re.sub(r"\$\{[^}]*\}", "", text)
        for token in re.findall(r"[A-Za-z0-9+/=_-]+", without_variables):
            assert not looks_like_a_secret(token), f"looks like a literal secret: {text}"
        if re.search(r"secret|password|requirepass", text, re.IGNORECASE) and "=" in text:
            value = text.split("=", 1)[1]
            assert value.startswith("${"), f"literal secret value in {text!r}"


def test_the_secret_detector_catches_generated_secrets():
    assert looks_like_a_secret(secrets.token_hex(32))
    assert looks_like_a_secret(secrets.token_urlsafe(40))
    assert not looks_like_a_secret("config.settings.production".replace(".", "_"))
    assert not looks_like_a_secret("/var/lib/postgresql/data")


def test_secrets_are_required_not_defaulted():
    text = (ROOT / "docker-compose.yml").read_text()
    required = set(REQUIRED_VARIABLE.findall(text))
    assert {"SECRET_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD", "TURN_SECRET", "PARLEY_DOMAIN"} <= required
    for name in ("SECRET_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD", "TURN_SECRET"):
        assert f"${{{name}:-" not in text and f"${{{name}-" not in text, f"{name} must have no default"


def test_redis_and_postgres_are_not_published():
    for name in ("postgres", "redis", "web"):
        assert "ports" not in SERVICES[name], f"{name} must only be reachable inside the compose network"
    published = {str(port) for port in SERVICES["caddy"]["ports"]}
    assert {"80:80", "443:443"} <= published


def test_env_example_lists_every_variable():
    listed = env_example_names()
    compose_names = set(VARIABLE.findall((ROOT / "docker-compose.yml").read_text()))
    assert compose_names - listed == set(), "variables docker-compose.yml reads"
    read_by_settings = set()
    for module in ("base.py", "local.py", "production.py"):
        read_by_settings |= set(SETTINGS_VARIABLE.findall((ROOT / "config/settings" / module).read_text()))
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS", "TURN_SECRET"} <= read_by_settings
    assert read_by_settings - listed == set(), "variables the settings read"
    for line in (ROOT / ".env.example").read_text().splitlines():
        if SECRET_NAME.search(line.split("=")[0]) and not line.startswith("#"):
            assert line.rstrip().endswith("="), f".env.example must not ship a secret value: {line}"


def test_caddy_proxies_the_domain_to_web():
    caddyfile = (ROOT / "deploy/caddy/Caddyfile").read_text()
    assert re.search(r"^\{\$PARLEY_DOMAIN\}\s*\{", caddyfile, re.MULTILINE)
    # Every web container, by name: WEB_PROCESSES of them (tests/test_proxy_rooms.py runs the rest).
    assert re.search(r"^\s*reverse_proxy \{$", caddyfile, re.MULTILINE)
    assert re.search(r"^\s*to \{\$WEB_UPSTREAMS\}$", caddyfile, re.MULTILINE)
    assert re.search(r"^\s*health_uri /readyz$", caddyfile, re.MULTILINE)
    caddy = SERVICES["caddy"]
    assert caddy["environment"]["WEB_PROCESSES"] == "${WEB_PROCESSES:-2}"
    assert "parley-web-$$i:8000" in caddy["command"][0] and "export WEB_UPSTREAMS" in caddy["command"][0]
    mounts = [str(volume).split(":")[:2] for volume in SERVICES["caddy"]["volumes"]]
    assert ["./deploy/caddy/Caddyfile", "/etc/caddy/Caddyfile"] in mounts
    assert SERVICES["caddy"]["environment"]["PARLEY_DOMAIN"].startswith("${PARLEY_DOMAIN")


def test_docker_compose_config_accepts_the_file(tmp_path):
    docker = shutil.which("docker")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True) if docker else None
    if probe is None or probe.returncode != 0:
        pytest.skip("the docker compose client is not installed")
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")

    def config() -> subprocess.CompletedProcess:
        return subprocess.run(
            [docker, "compose", "config", "-q"], cwd=tmp_path, capture_output=True, text=True, timeout=60
        )

    (tmp_path / ".env").write_text("PARLEY_DOMAIN=parley.example.com\n")
    assert config().returncode != 0, "compose must refuse to start without the secrets"
    values = {
        name: secrets.token_hex(32) for name in ("SECRET_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD", "TURN_SECRET")
    }
    values.update(PARLEY_DOMAIN="parley.example.com", ACME_EMAIL="ops@example.com")
    (tmp_path / ".env").write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    done = config()
    assert done.returncode == 0, done.stderr


def interpolate(text: str, values: dict[str, str]) -> str:
    """Compose's ${NAME:?message} and ${NAME:-default}, for the flat strings of the coturn command."""

    def value(match: re.Match) -> str:
        name, operator, fallback = match.group(1), match.group(2), match.group(3)
        if operator == ":-":
            return values.get(name) or fallback
        return values[name]

    return re.sub(r"\$\{([A-Z_][A-Z0-9_]*)(?:(:\?|:-)([^}]*))?\}", value, text)


def test_coturn_accepts_the_compose_command_line(turnserver_bin, free_port, tmp_path):
    """Run the real turnserver with compose's arguments (on loopback) and its healthcheck command."""
    values = {"TURN_SECRET": secrets.token_hex(32), "PARLEY_DOMAIN": "parley.example.com"}
    args = [interpolate(arg, values) for arg in coturn_args()]
    args[args.index("-c") + 1] = str(ROOT / "deploy/coturn/turnserver.conf")
    tls_port = free_port + 1 if free_port < 65535 else free_port - 1
    loopback_only = [
        f"--listening-port={free_port}",
        f"--tls-listening-port={tls_port}",
        "--listening-ip=127.0.0.1",
        "--relay-ip=127.0.0.1",
        "--no-tls",
        "--no-dtls",
        f"--pidfile={tmp_path / 'turnserver.pid'}",
    ]
    log_path = tmp_path / "turnserver.log"
    with log_path.open("w") as log:
        server = subprocess.Popen([turnserver_bin, *args, *loopback_only], stdout=log, stderr=subprocess.STDOUT)
    health = " ".join(SERVICES["coturn"]["healthcheck"]["test"][1:]).replace("-p 3478", f"-p {free_port}")
    try:
        deadline = time.monotonic() + 60
        while subprocess.run(["timeout", "5", "sh", "-c", health], capture_output=True).returncode != 0:
            assert server.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "the coturn healthcheck never passed:\n" + log_path.read_text()
            time.sleep(0.5)
        logs = log_path.read_text()
        assert "Default realm: parley.example.com" in logs
        assert "Black listing: ::ffff:0.0.0.0-::ffff:255.255.255.255" in logs
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_the_monitoring_profile_scrapes_every_web_container_with_the_token():
    for name in ("prometheus", "grafana"):
        assert SERVICES[name]["profiles"] == ["monitoring"], f"{name} runs only with --profile monitoring"
    assert "ports" not in SERVICES["prometheus"]
    assert all(str(port).startswith("127.0.0.1:") for port in SERVICES["grafana"]["ports"])
    prometheus = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    (job,) = prometheus["scrape_configs"]
    assert job["dns_sd_configs"] == [{"names": ["web"], "type": "A", "port": 8000, "refresh_interval": "15s"}]
    assert job["authorization"] == {"type": "Bearer", "credentials_file": "/run/secrets/metrics_token"}
    assert COMPOSE["secrets"]["metrics_token"] == {"environment": "METRICS_TOKEN"}
    assert SERVICES["web"]["env_file"] == ".env", "METRICS_TOKEN reaches the web processes from .env"
