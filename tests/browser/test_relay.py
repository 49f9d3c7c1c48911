"""Relay-only calls through a real coturn, with the TURN credentials the app minted."""

import os
import secrets
import signal
import time

import pytest

from tests.browser.call import UFRAG_JS, assert_video_flowing, close, enter, wait_for
from tests.browser.conftest import browser_launch, chromium_args
from tests.browser.server import AppServer, Netns, isolation_available
from tests.conftest import require
from tests.turn import coturn_start


@pytest.fixture(scope="module")
def turn(chromium_bin_module):
    import shutil

    require("TURN", shutil.which("turnserver") is not None, "coturn's turnserver is not installed")
    server = coturn_start(secret=secrets.token_urlsafe(24), isolated_network=isolation_available())
    yield server
    server.stop()


@pytest.fixture(scope="module")
def netns(turn):
    """The browser and the app join coturn's loopback-only namespace."""
    return Netns(holder_pid=turn.pid) if turn.isolated_network else None


@pytest.fixture(scope="module")
def browser(playwright_instance, chromium_bin_module, netns, app_workdir):
    """A Chromium of its own, in coturn's namespace (the package's shared one is in another)."""
    browser = browser_launch(playwright_instance, chromium_bin_module, netns, app_workdir, args=chromium_args())
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def app_server(app_workdir, netns, turn):
    # Short-lived TURN credentials, so that the page must refresh them during the test.
    env = {"ICE_TRANSPORT_POLICY": "relay", "TURN_URLS": turn.url, "TURN_SECRET": turn.secret, "TURN_TTL": "12"}
    server = AppServer(app_workdir, netns=netns, extra_env=env)
    server.start()
    yield server
    server.stop()


def test_relay_only_call_through_coturn(browser, app_server, turn):
    alice = enter(browser, app_server, "alice", "relay")
    bob = enter(browser, app_server, "bob", "relay")
    try:
        for page in (alice, bob):
            assert page.evaluate("() => window.parley.iceTransportPolicy") == "relay"
            assert_video_flowing(page, 1, app_server, relay=True)
            # coturn accepted the credentials the app minted for this user.
            username = page.evaluate("() => window.parley.iceServers.find((s) => s.username).username")
            assert username in turn.log_text()
    finally:
        close(alice, bob)


TURN_USERNAME_JS = """() => {
  const link = [...window.parley.links.values()][0];
  return link.pc.getConfiguration().iceServers.find((server) => server.username).username;
}"""


def test_turn_credentials_are_refreshed_before_they_expire(browser, app_server, turn):
    alice = enter(browser, app_server, "alice", "relay")
    bob = enter(browser, app_server, "bob", "relay")
    try:
        assert_video_flowing(alice, 1, app_server, relay=True)
        first = {page: page.evaluate(TURN_USERNAME_JS) for page in (alice, bob)}
        # The page asks for fresh credentials (`ice-servers`) before these expire, and hands
        # them to its peer connections.
        for page in (alice, bob):
            wait_for(lambda page=page: page.evaluate(TURN_USERNAME_JS) != first[page], what="refreshed credentials")
        expiry = max(int(username.split(":")[0]) for username in first.values())
        time.sleep(max(0.0, expiry + 1 - time.time()))
        # The first credentials are dead now: an ICE restart allocates new relays with the fresh ones.
        for page in (alice, bob):
            page.evaluate("() => { for (const link of window.parley.links.values()) link.restartIce(); }")
        for page in (alice, bob):
            wait_for(
                lambda page=page: page.evaluate(TURN_USERNAME_JS) in turn.log_text(), what="coturn saw the new user"
            )
            assert_video_flowing(page, 1, app_server, relay=True)
    finally:
        close(alice, bob)


RESTARTS_JS = "() => [...window.parley.links.values()].reduce((sum, link) => sum + link.restarts, 0)"


def test_a_broken_media_path_restarts_ice_and_recovers(browser, app_server, turn):
    """The relay stops answering: the peers see the path break, restart ICE, and come back through it."""
    alice = enter(browser, app_server, "alice", "relay")
    bob = enter(browser, app_server, "bob", "relay")
    try:
        assert_video_flowing(alice, 1, app_server, relay=True)
        before = {page: page.evaluate(UFRAG_JS) for page in (alice, bob)}
        os.kill(turn.pid, signal.SIGSTOP)
        try:
            wait_for(lambda: alice.evaluate(RESTARTS_JS) + bob.evaluate(RESTARTS_JS) > 0, what="an ICE restart")
        finally:
            os.kill(turn.pid, signal.SIGCONT)
        for page in (alice, bob):  # the restart's offer and answer went through: new ICE credentials
            wait_for(lambda page=page: page.evaluate(UFRAG_JS) != before[page], what="new ICE credentials")
        assert_video_flowing(alice, 1, app_server, relay=True)
        assert_video_flowing(bob, 1, app_server, relay=True)
    finally:
        close(alice, bob)
