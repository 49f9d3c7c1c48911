"""Relay-only calls through a real coturn, with the TURN credentials the app minted."""

import os
import secrets
import signal
import time

import pytest
from playwright.sync_api import expect

from tests.browser.call import (
    UFRAG_JS,
    assert_video_flowing,
    close,
    enter,
    join,
    open_room,
    screenshot,
    wait_for,
)
from tests.browser.conftest import browser_launch, chromium_args, loopback_netns
from tests.browser.server import AppServer
from tests.conftest import require
from tests.turn import coturn_start


@pytest.fixture(scope="module")
def netns(chromium_bin_module):
    """A loopback-only namespace of the module's own for coturn, the browser and the app: it outlives a
    coturn that a test kills and starts again."""
    with loopback_netns() as namespace:
        yield namespace


@pytest.fixture(scope="module")
def turn(netns):
    import shutil

    require("TURN", shutil.which("turnserver") is not None, "coturn's turnserver is not installed")
    server = coturn_start(secret=secrets.token_urlsafe(24), netns=netns.path if netns else None)
    yield server
    server.stop()


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


RELAY_LOST = {
    "alice": "The relay server (TURN) cannot be reached; trying again…",
    "bob": "无法连接中继服务器（TURN），正在重试…",
}
RELAY_RESTARTS_JS = "() => Number(document.getElementById('call').dataset.relayRestarts || 0)"
# The remote tile says the link is coming back: its "Reconnecting…" cover (video stalled) or its "Reconnecting" state.
TILE_RECONNECTING_JS = """() => {
  const tile = document.querySelector(".tile:not(.local)");
  return Boolean(tile) && (!tile.querySelector(".tile-stalled").hidden || tile.dataset.state === "disconnected");
}"""
RELAY_LOST_WITHIN = 8.0


def test_relay_only_call_and_the_relay_lost_then_back(browser, app_server, turn):
    """A relay-only call with the app's TURN credentials; coturn crashes: within seconds the status line
    says the relay cannot be reached and the tiles say Reconnecting; coturn comes back on its port: the
    line clears, the relayed links restart ICE and the video flows again (issue #20, item 5)."""
    alice = open_room(browser, app_server, "alice", "relay")
    bob = open_room(browser, app_server, "bob", "relay", locale="zh-Hans")
    alice.set_viewport_size({"width": 1366, "height": 768})
    bob.set_viewport_size({"width": 390, "height": 844})
    pages = {"alice": alice, "bob": bob}
    try:
        for page in pages.values():
            join(page)
        for page in pages.values():
            assert page.evaluate("() => window.parley.iceTransportPolicy") == "relay"
            assert_video_flowing(page, 1, app_server, relay=True)
            # coturn accepted the credentials the app minted for this user.
            username = page.evaluate("() => window.parley.iceServers.find((s) => s.username).username")
            assert username in turn.log_text()
            expect(page.locator("#call-status")).to_have_text("")

        killed = time.monotonic()
        turn.kill()
        shown = {}
        for name, page in pages.items():
            status = page.locator("#call-status")
            expect(status).to_have_text(
                RELAY_LOST[name], timeout=(killed + RELAY_LOST_WITHIN - time.monotonic()) * 1000
            )
            shown[name] = time.monotonic() - killed
            assert page.evaluate(TILE_RECONNECTING_JS), "the tile still says the link is fine"
        screenshot(alice, "relay-unreachable.png")
        screenshot(bob, "relay-unreachable-phone.png")
        assert all(page.evaluate(RELAY_RESTARTS_JS) == 0 for page in pages.values())

        # Back within seconds (a supervisor restarting it): the relay watch notices within its 2 s probe
        # period, before a link's own restart (4 s after it turns "disconnected", ~10 s after the kill).
        restarted = time.monotonic()
        turn.restart()
        cleared, flowing = {}, {}
        for name, page in pages.items():
            expect(page.locator("#call-status")).to_have_text("", timeout=10_000)
            cleared[name] = time.monotonic() - restarted
        for name, page in pages.items():
            assert_video_flowing(page, 1, app_server, relay=True)
            flowing[name] = time.monotonic() - restarted
        # The relay's return restarted ICE (on one side at least: the other may answer before its own probe).
        assert sum(page.evaluate(RELAY_RESTARTS_JS) for page in pages.values()) >= 1
        figures = {name: f"{shown[name]:.1f}/{cleared[name]:.1f}/{flowing[name]:.1f}" for name in pages}
        print(f"FIGURE TURN lost: line shown after kill / cleared / video back after restart (s): {figures}")
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
