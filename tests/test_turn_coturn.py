"""The app's TURN credentials against a real coturn, and the production peer rules.

coturn's own client, turnutils_uclient, does the talking. Everything stays on 127.0.0.1; the
production-rules test runs coturn in a network namespace with only `lo`, so even a wrongly
allowed peer could not be reached.
"""

import ipaddress
import re
import secrets
import time

import pytest

from calls.services.turn import turn_credential_compute, turn_credentials_issue
from tests.conftest import require
from tests.turn import (
    PRODUCTION_CONFIG,
    coturn_fixture,  # noqa: F401  (registers the `coturn` fixture)
    coturn_start,
    network_isolation_available,
)

USER_ID = 42


def app_credentials(settings, secret: str, *, ttl: int = 600) -> dict:
    """Credentials minted by the app's service, as a browser would receive them."""
    settings.TURN_SECRET = secret
    return turn_credentials_issue(user_id=USER_ID, ttl=ttl)


def allocation_outcome(server, *, username: str, credential: str, timeout: float = 15.0) -> str:
    """'allocated' once coturn logs a successful ALLOCATE for `username`, 'refused' if the client gives up."""
    since = len(server.log_text())
    client = server.uclient_start(username=username, credential=credential, client_to_client=True)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if f"user <{username}>: incoming packet ALLOCATE processed, success" in server.log_text()[since:]:
                return "allocated"
            if client.poll() is not None:
                return "allocated" if client.returncode == 0 else "refused"
            time.sleep(0.05)
        raise AssertionError(f"no allocation outcome within {timeout}s:\n{server.log_text()[since:][-3000:]}")
    finally:
        if client.poll() is None:
            client.kill()
        client.wait(timeout=5)


def test_uclient_relays_through_coturn_with_app_credentials(coturn, settings):
    issued = app_credentials(settings, coturn.secret)
    result = coturn.uclient(username=issued["username"], credential=issued["credential"], client_to_client=True)
    assert result.returncode == 0, result.stdout
    assert "Cannot complete Allocation" not in result.stdout
    received = re.findall(r"tot_recv_msgs=(\d+)", result.stdout)
    assert received and int(received[-1]) > 0, f"nothing came back through the relay:\n{result.stdout}"
    log = coturn.log_wait(f"user <{issued['username']}>: incoming packet ALLOCATE processed, success")
    assert "CHANNEL_BIND processed, success" in log


def test_tcp_transport_also_allocates(coturn, settings):
    issued = app_credentials(settings, coturn.secret)
    result = coturn.uclient(
        username=issued["username"], credential=issued["credential"], client_to_client=True, tcp=True
    )
    assert result.returncode == 0, result.stdout
    coturn.log_wait(f"user <{issued['username']}>: incoming packet ALLOCATE processed, success")


def test_credentials_signed_with_another_secret_are_refused(coturn, settings):
    issued = app_credentials(settings, "not-the-coturn-secret")
    result = coturn.uclient(username=issued["username"], credential=issued["credential"], client_to_client=True)
    assert result.returncode != 0
    assert "Cannot complete Allocation" in result.stdout
    log = coturn.log_wait(f"user <{issued['username']}>: incoming packet message processed, error 401: Unauthorized")
    assert "ALLOCATE processed, success" not in log


def test_expired_username_is_refused_even_when_correctly_signed(coturn, settings):
    issued = app_credentials(settings, coturn.secret, ttl=-60)
    assert int(issued["username"].split(":")[0]) < time.time()
    result = coturn.uclient(username=issued["username"], credential=issued["credential"], client_to_client=True)
    assert result.returncode != 0
    assert "Cannot complete Allocation" in result.stdout
    log = coturn.log_wait(f"user <{issued['username']}>: incoming packet message processed, error 401: Unauthorized")
    assert "ALLOCATE processed, success" not in log


def test_secret_rotation_accepts_old_and_new_secret_during_overlap(turnserver_bin, settings):
    """docs/turn.md's rotation: coturn runs with both secrets while the app switches to the new one."""
    old, new = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    server = coturn_start(secret=[new, old])
    try:
        for secret in (old, new):
            settings.TURN_SECRET = secret
            issued = turn_credentials_issue(user_id=USER_ID, ttl=600)
            assert allocation_outcome(server, **issued) == "allocated"
        stranger = turn_credentials_issue(user_id=USER_ID, ttl=600)
        stranger["credential"] = turn_credential_compute(secret="retired-long-ago", username=stranger["username"])
        assert allocation_outcome(server, **stranger) == "refused"
    finally:
        server.stop()


# --- The production peer rules (deploy/coturn/turnserver.conf) ----------------------------


@pytest.fixture
def production_coturn(turnserver_bin):
    require("TURN", network_isolation_available(), "the production peer-rule test needs `unshare -n` (root)")
    server = coturn_start(secret=secrets.token_urlsafe(24), production_rules=True, isolated_network=True)
    yield server
    server.stop()


@pytest.mark.parametrize(
    ("peer", "log_reason"),
    [("127.0.0.1", None), ("10.0.0.1", "denied in the range: 10.0.0.0-10.255.255.255")],
)
def test_production_rules_refuse_relaying_to_internal_addresses(production_coturn, settings, peer, log_reason):
    issued = app_credentials(settings, production_coturn.secret)
    since = len(production_coturn.log_text())
    result = production_coturn.uclient(username=issued["username"], credential=issued["credential"], peer=peer)
    assert result.returncode != 0
    # The allocation itself works: the refusal is the permission to reach this peer, before any data.
    assert "create permission error 403 (Forbidden IP)" in result.stdout
    log = production_coturn.log_wait("CREATE_PERMISSION processed, error 403: Forbidden IP", since=since)
    assert f"user <{issued['username']}>: incoming packet ALLOCATE processed, success" in log
    assert "CREATE_PERMISSION processed, success" not in log
    if log_reason:
        assert f"A peer IP {peer} {log_reason}" in log


def test_production_rules_still_allow_public_peers(production_coturn, settings):
    """The deny list must not swallow everything (a bare `denied-peer-ip=::` does exactly that)."""
    issued = app_credentials(settings, production_coturn.secret)
    since = len(production_coturn.log_text())
    # Inside the namespace only `lo` exists, so the relayed test packet cannot leave the machine.
    client = production_coturn.uclient_start(
        username=issued["username"], credential=issued["credential"], peer="8.8.8.8"
    )
    try:
        log = production_coturn.log_wait("incoming packet CREATE_PERMISSION processed", since=since)
    finally:
        client.kill()
        client.wait(timeout=5)
    assert "CREATE_PERMISSION processed, success" in log
    assert "Forbidden IP" not in log


def production_denied_ranges() -> list[tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]]:
    ranges = []
    for line in PRODUCTION_CONFIG.read_text().splitlines():
        if line.startswith("denied-peer-ip="):
            low, _, high = line.split("=", 1)[1].strip().partition("-")
            ranges.append((ipaddress.ip_address(low), ipaddress.ip_address(high or low)))
    return ranges


@pytest.mark.parametrize(
    "address",
    [
        "0.1.2.3",
        "10.20.30.40",
        "100.64.0.1",
        "100.127.255.254",
        "127.0.0.53",
        "169.254.169.254",  # cloud metadata service
        "172.16.0.1",
        "172.31.255.255",
        "192.0.0.8",
        "192.168.1.1",
        "198.18.0.1",
        "224.0.0.251",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::ffff:10.0.0.1",
        "::ffff:127.0.0.1",
        "64:ff9b::a00:1",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "ff02::1",
    ],
)
def test_production_config_denies_internal_range(address):
    ip = ipaddress.ip_address(address)
    assert any(low.version == ip.version and low <= ip <= high for low, high in production_denied_ranges())


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111"])
def test_production_config_leaves_public_addresses_reachable(address):
    ip = ipaddress.ip_address(address)
    assert not any(low.version == ip.version and low <= ip <= high for low, high in production_denied_ranges())


def test_production_config_has_no_secret_and_no_test_options():
    options = {
        line.split("=", 1)[0].strip()
        for line in PRODUCTION_CONFIG.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {"use-auth-secret", "no-cli", "no-multicast-peers", "no-tlsv1", "no-tlsv1_1", "fingerprint"} <= options
    assert {"user-quota", "total-quota", "realm"} <= options
    assert not options & {"static-auth-secret", "allow-loopback-peers", "lt-cred-mech", "no-auth", "user"}
