"""Receivers say what they show (issue #21.2): a tile the receiver does not show pauses that one
link's video at the sender within 2 s, audio keeps flowing, and the video comes back when shown;
a peer whose socket dropped is "Reconnecting…" on the others' tiles (issue #15.5)."""

import re
import time

from playwright.sync_api import expect

from tests.browser.call import close, enter, wait_connected, wait_for

# Alice's senders on her link to `peer`: the camera encoding's `active` and the bytes sent so far.
SENDING_JS = """async (peer) => {
  const link = window.parley.links.get(peer);
  if (!link) return null;
  const bytes = {};
  (await link.pc.getStats()).forEach((s) => { if (s.type === "outbound-rtp") bytes[s.mid] = s.bytesSent || 0; });
  const camera = link.transceivers.video, audio = link.transceivers.audio;
  return {
    at: performance.now(),
    active: camera.sender.getParameters().encodings[0]?.active,
    video: bytes[camera.mid] || 0, audio: bytes[audio.mid] || 0,
  };
}"""


def sending(page, peer: str) -> dict:
    return page.evaluate(SENDING_JS, peer)


def self_id(page) -> str:
    return page.evaluate("() => window.parley.selfId")


def views_state(page, peer: str) -> dict:
    """What the receiver last sent about `peer`, and what it sees of its tile (for failure messages)."""
    return page.evaluate(
        """(peer) => { const views = window.parley.views; const root = views.observed.get(peer);
        return { sent: views.sent.get(peer), page: document.visibilityState,
                 visible: root && views.visible.get(root),
                 box: root && root.getBoundingClientRect().toJSON(), main: root && root.className }; }""",
        peer,
    )


def rates(page, peer: str, seconds: float = 1.5) -> tuple[float, float]:
    """Video and audio kbit/s sent on the link over `seconds`."""
    first = sending(page, peer)
    time.sleep(seconds)
    last = sending(page, peer)
    elapsed = (last["at"] - first["at"]) / 1000
    return (
        (last["video"] - first["video"]) * 8 / elapsed / 1000,
        (last["audio"] - first["audio"]) * 8 / elapsed / 1000,
    )


def test_a_tile_hidden_by_its_receiver_pauses_that_links_video_and_audio_keeps_flowing(browser, app_server):
    alice, bob, carol = (enter(browser, app_server, name, "views") for name in ("alice", "bob", "carol"))
    try:
        for page in (alice, bob, carol):
            wait_connected(page, 2)
        alice_id, bob_id, carol_id = self_id(alice), self_id(bob), self_id(carol)
        wait_for(lambda: rates(alice, bob_id, 1)[0] > 30, what="Alice's video flowing to Bob")

        # Bob stops showing Alice's tile (as when it is scrolled away or not laid out).
        bob.evaluate("(id) => { window.parley.tiles.tiles.get(id).root.style.display = 'none'; }", alice_id)
        started = time.monotonic()
        wait_for(
            lambda: sending(alice, bob_id)["active"] is False,
            timeout=2,
            what="Alice's video to Bob paused",
            last=lambda: (views_state(bob, alice_id), sending(alice, bob_id)),
        )
        assert time.monotonic() - started <= 2
        time.sleep(0.5)  # what was encoded before has left
        video_kbps, audio_kbps = rates(alice, bob_id)
        assert video_kbps < 5, video_kbps  # paused: only RTCP-sized traces at most
        assert audio_kbps > 10, audio_kbps  # the voice keeps flowing
        # Only that link: Carol still gets Alice's video.
        assert sending(alice, carol_id)["active"] is not False
        assert rates(alice, carol_id)[0] > 30

        # Shown again: the video comes back.
        bob.evaluate("(id) => { window.parley.tiles.tiles.get(id).root.style.display = ''; }", alice_id)
        wait_for(
            lambda: sending(alice, bob_id)["active"] is True,
            timeout=3,
            what="Alice's video to Bob resumed",
            last=lambda: (views_state(bob, alice_id), sending(alice, bob_id)),
        )
        wait_for(lambda: rates(alice, bob_id, 1)[0] > 30, what="Alice's video flowing to Bob again")
    finally:
        close(alice, bob, carol)


def test_a_peer_whose_socket_dropped_is_reconnecting_then_back(browser, app_server):
    alice, bob = (enter(browser, app_server, name, "away") for name in ("alice", "bob"))
    try:
        for page in (alice, bob):
            wait_connected(page, 1)
        bob_id = self_id(bob)
        tile = alice.locator(f'#tiles .tile[data-peer-id="{bob_id}"]')
        expect(tile.locator(".tile-stalled")).to_be_hidden()
        bob.evaluate("() => window.parley.signal.drop('test')")  # Bob's socket drops; he comes back
        expect(tile).to_have_class(re.compile(r"\baway\b"), timeout=5000)
        expect(tile.locator(".tile-stalled")).to_have_text("Reconnecting…")
        person = alice.locator(f'#participants [data-peer-id="{bob_id}"]')
        expect(person.locator(".participant-away")).to_have_text("Reconnecting…")
        expect(tile).not_to_have_class(re.compile(r"\baway\b"), timeout=15000)
        expect(tile.locator(".tile-stalled")).to_be_hidden()
        expect(person.locator(".participant-away")).to_have_count(0)
        assert self_id(bob) == bob_id  # resumed: the same peer, never "left"
    finally:
        close(alice, bob)
