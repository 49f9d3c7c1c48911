"""Driving the call page the way a person does, and reading WebRTC stats from the page."""

import os
import time
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.browser.server import PASSWORD_PREFIX, AppServer

ROOT = Path(__file__).resolve().parents[2]
# Screenshots go to test-artifacts/ (ignored by git); SCREENSHOTS_DIR=docs/screenshots refreshes the README's.
SCREENSHOTS = ROOT / os.environ.get("SCREENSHOTS_DIR", "test-artifacts/screenshots")
CALL_TIMEOUT = 45.0

# The ICE username fragment of the first link's local description: an ICE restart changes it.
UFRAG_JS = "() => [...window.parley.links.values()][0].pc.localDescription.sdp.match(/a=ice-ufrag:(\\S+)/)[1]"

# Per remote peer: connection state, selected candidate pair and decoded video frames.
LINK_STATS_JS = """
async () => {
  const out = {};
  if (!window.parley) return out;
  for (const [peerId, link] of window.parley.links) {
    const report = await link.pc.getStats();
    let frames = 0, pair = null;
    report.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") frames += s.framesDecoded || 0;
      if (s.type === "transport" && s.selectedCandidatePairId) pair = report.get(s.selectedCandidatePairId);
    });
    const local = pair ? report.get(pair.localCandidateId) : null;
    const remote = pair ? report.get(pair.remoteCandidateId) : null;
    const video = document.querySelector(`.tile[data-peer-id="${peerId}"] video`);
    out[peerId] = {
      state: link.pc.connectionState,
      frames,
      width: video ? video.videoWidth : 0,
      localType: local ? local.candidateType : null,
      remoteType: remote ? remote.candidateType : null,
      localAddress: local ? local.address : null,
      remoteAddress: remote ? remote.address : null,
    };
  }
  return out;
}
"""


# What the browser keeps of recordings (static/js/recording_store.js): metadata and chunks. A browser
# without the database has none (and is left without it: the app creates it with its stores).
KEPT_RECORDINGS_JS = """
() => new Promise((resolve) => {
  const open = indexedDB.open("parley-recordings");
  open.onupgradeneeded = () => open.transaction.abort();
  open.onerror = () => resolve([0, 0]);
  open.onsuccess = () => {
    const transaction = open.result.transaction(["recordings", "chunks"]);
    const recordings = transaction.objectStore("recordings").count();
    const chunks = transaction.objectStore("chunks").count();
    transaction.oncomplete = () => resolve([recordings.result, chunks.result]);
  };
})
"""

# The session cookies of each (server, username) once signed in through the form: a later context of the
# same person starts with them, as a returning browser does, instead of filling the form again.
_SIGNED_IN: dict[tuple[str, str], list] = {}


def sign_in(browser: Browser, server: AppServer, username: str, next_path: str, locale: str = "en-US") -> Page:
    """A fresh browser context (its own cookies and storage) of a signed-in person, on `next_path`.

    The first time per person and server it signs in through the real form (and is sent on to
    `next_path`); after that the context starts with that sign-in's cookies and opens `next_path`,
    which must not send it to the sign-in page.
    """
    key = (server.url, username)
    cookies = _SIGNED_IN.get(key)
    state = {"cookies": cookies, "origins": []} if cookies else None
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 760}, storage_state=state)
    page = context.new_page()
    page.set_default_timeout(CALL_TIMEOUT * 1000)
    if cookies:
        page.goto(f"{server.url}{next_path}")
    else:
        page.goto(f"{server.url}/accounts/login/?next={next_path}")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD_PREFIX + username)
        page.click("form button[type=submit]")
    page.wait_for_url(f"{server.url}{next_path}")
    if not cookies:
        _SIGNED_IN[key] = [cookie for cookie in context.cookies() if cookie["name"] == "sessionid"]
    return page


def switch_person(page: Page, server: AppServer, username: str) -> None:
    """`username` (signed in before) takes over this browser: its cookies and storage stay, its session cookie
    becomes theirs. No one signs out: that would end the sessions later contexts of these people start with."""
    page.context.clear_cookies(name="sessionid")
    page.context.add_cookies(_SIGNED_IN[(server.url, username)])
    page.reload()


def open_room(browser: Browser, server: AppServer, username: str, slug: str, **kwargs) -> Page:
    page = sign_in(browser, server, username, f"/rooms/{slug}/", **kwargs)
    # Enabled once the camera and microphone are open: on a busy machine, beside a running call, that
    # can take longer than expect()'s default 5 s.
    expect(page.locator("#join")).to_be_enabled(timeout=CALL_TIMEOUT * 1000)
    return page


def join(page: Page, *, camera: bool = True, mic: bool = True) -> None:
    if not camera:
        page.uncheck("#join-camera")
    if not mic:
        page.uncheck("#join-mic")
    page.click("#join")
    expect(page.locator("#incall")).to_be_visible()
    page.wait_for_function("() => window.parley && window.parley.selfId !== null")


def enter(browser: Browser, server: AppServer, username: str, slug: str, **join_options) -> Page:
    page = open_room(browser, server, username, slug)
    join(page, **join_options)
    return page


def kept_recordings(page: Page) -> list[int]:
    """How many recordings, and chunks of them, the page's browser keeps (static/js/recording_store.js)."""
    return page.evaluate(KEPT_RECORDINGS_JS)


def link_stats(page: Page) -> dict:
    return page.evaluate(LINK_STATS_JS)


def wait_for(predicate, *, timeout: float = CALL_TIMEOUT, what: str = "condition", last=lambda: None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last seen: {last()!r}")


def wait_connected(page: Page, peers: int, *, timeout: float = CALL_TIMEOUT) -> dict:
    """Wait until `peers` remote peers are connected and their video has a size."""

    def ready():
        stats = link_stats(page)
        if len(stats) == peers and all(s["state"] == "connected" and s["width"] > 0 for s in stats.values()):
            return stats
        return None

    return wait_for(ready, timeout=timeout, what=f"{peers} connected peers with video", last=lambda: link_stats(page))


def assert_video_flowing(page: Page, peers: int, server: AppServer, *, relay: bool = False) -> dict:
    """Connected, remote video has a size, and frames decoded rise within 2 s, for every remote peer.

    In a loopback-only namespace the selected pair must be 127.0.0.1 on both ends. Without one,
    Chromium may pair its own eth0 address with the (filtered) 127.0.0.1 remote candidate: the
    packets still stay on this machine, and the remote side must be 127.0.0.1.
    """
    deadline = time.monotonic() + CALL_TIMEOUT
    while True:
        before = wait_connected(page, peers)
        # Frames must rise within a 2 s window: polled, so that flowing video passes at once.
        window_end = time.monotonic() + 2.0
        while True:
            time.sleep(0.1)
            after = link_stats(page)
            rising = set(after) == set(before) and all(
                stats["frames"] > before[peer_id]["frames"] for peer_id, stats in after.items()
            )
            if rising or time.monotonic() > window_end:
                break
        # Video can stall for a moment after a path change (a key frame, the bandwidth estimate).
        if rising or time.monotonic() > deadline:
            break
    assert set(after) == set(before), (before, after)
    for peer_id, stats in after.items():
        assert stats["state"] == "connected", stats
        assert stats["width"] > 0, stats
        assert stats["frames"] > before[peer_id]["frames"], (before[peer_id], stats)
        # The network rule: only loopback candidates are ever paired. Chromium blanks the address of a
        # peer-reflexive remote candidate; it is the other side's local one, which that side checks.
        if server.netns is not None:
            assert stats["localAddress"] == "127.0.0.1", stats
        assert stats["remoteAddress"] == "127.0.0.1" or (stats["remoteType"] == "prflx" and not stats["remoteAddress"])
        if relay:
            assert stats["localType"] == "relay", stats
    return after


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name))


def close(*pages: Page) -> None:
    for page in pages:
        page.context.close()
