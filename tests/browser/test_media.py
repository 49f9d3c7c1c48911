"""The upload budget of a mesh (issue #21): four people, each link under its share, smaller pictures
as the room fills and larger again as it empties, audio kept, a shared screen kept sharp.

The fake cameras play a 720p picture with fresh noise in every frame (tests/browser/conftest.py,
`noisy_video`): Chromium's own test pattern costs ~200 kbit/s at any limit, so no limit would show.
"""

import itertools
import re
import time

import pytest
from playwright.sync_api import expect

from tests.browser.call import close, enter, sign_in, wait_connected, wait_for
from tests.browser.conftest import browser_launch, chromium_args, ffmpeg_available, noisy_video
from tests.conftest import require

BUDGET_KBPS = 2500  # VIDEO_BUDGET_KBPS's default

# Per link of this page: each sender's parameters and what its outbound-rtp says (by mid).
SENDERS_JS = """async () => {
  const out = {};
  for (const [peerId, link] of window.parley.links) {
    const outbound = {};
    (await link.pc.getStats()).forEach((s) => {
      if (s.type === "outbound-rtp") outbound[s.mid] = { bytes: s.bytesSent || 0, height: s.frameHeight || 0 };
    });
    const describe = (transceiver) => {
      if (!transceiver || !transceiver.sender.track) return null;
      const parameters = transceiver.sender.getParameters();
      const encoding = parameters.encodings[0] || {};
      return {
        bytes: 0, height: 0, ...outbound[transceiver.mid],
        scale: encoding.scaleResolutionDownBy ?? 1, maxBitrate: encoding.maxBitrate ?? null,
        maxFramerate: encoding.maxFramerate ?? null, active: encoding.active, priority: encoding.priority,
        degradation: parameters.degradationPreference ?? null,
        trackHeight: transceiver.sender.track.getSettings().height || 0,
      };
    };
    out[peerId] = {
      at: performance.now(), state: link.pc.connectionState,
      audio: describe(link.transceivers.audio), camera: describe(link.transceivers.video),
      screen: describe(link.screenTransceiver),
    };
  }
  return out;
}"""


def senders(page) -> dict:
    return page.evaluate(SENDERS_JS)


def camera_scales(page) -> set:
    return {link["camera"]["scale"] for link in senders(page).values() if link["camera"]}


@pytest.fixture(scope="module")
def noisy_browser(playwright_instance, chromium_bin_module, netns, app_workdir):
    require("BROWSER", ffmpeg_available(), "ffmpeg is not installed (it makes the fake camera's picture)")
    video = noisy_video(app_workdir / "camera.y4m")
    browser = browser_launch(
        playwright_instance, chromium_bin_module, netns, app_workdir, args=chromium_args(video=video)
    )
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def call(noisy_browser, app_server):
    """Three people in `media`, then a fourth: one call for the module. Yields the pages and what Alice
    sent with three."""
    pages = [enter(noisy_browser, app_server, name, "media", mic=name != "dave") for name in ("alice", "bob", "carol")]
    try:
        for page in pages:
            wait_connected(page, 2)
        alice = pages[0]
        wait_for(lambda: camera_scales(alice) == {2}, what="360p on both links of three", last=lambda: senders(alice))
        with_three = wait_for(
            lambda: (s := senders(alice)) and all(0 < link["camera"]["height"] <= 360 for link in s.values()) and s,
            what="Alice's camera sent at 360p at most",
            last=lambda: senders(alice),
        )
        pages.append(enter(noisy_browser, app_server, "dave", "media"))
        for page in pages:
            wait_connected(page, 3)
        yield pages, with_three
    finally:
        close(*pages)


def test_the_room_form_warns_above_8_people(browser, app_server):
    """First in the module: before the four-person call below keeps the machine busy."""
    lobby = sign_in(browser, app_server, "alice", "/")
    try:
        capacity = lobby.get_by_label("Capacity")
        expect(lobby.get_by_text("each person uploads one video per other person")).to_be_visible()
        warning = lobby.locator(".field-warning")
        expect(warning).to_be_hidden()
        capacity.fill("9")
        expect(warning).to_be_visible()
        expect(warning).to_have_text(re.compile(r"^More than 8 people: pictures get small"))
        expect(capacity).to_have_accessible_description(re.compile("More than 8 people"))
        capacity.fill("8")
        expect(warning).to_be_hidden()
    finally:
        close(lobby)


def test_the_table_splits_the_budget_and_shrinks_the_picture_as_the_room_fills(call):
    alice = call[0][0]
    table = alice.evaluate("""async () => {
      const budget = await import("/static/js/budget.js");
      const rows = [];
      for (let links = 1; links <= 15; links += 1) {
        for (const phone of [false, true]) rows.push({ links, phone, ...budget.linkEncoding({ links, phone }) });
      }
      return rows;
    }""")
    for phone, budget in ((False, 2500), (True, 1000)):
        rows = [row for row in table if row["phone"] == phone]
        for row in rows:
            assert row["camera"]["maxBitrate"] * row["links"] <= budget * 1000, row
            assert row["audio"]["priority"] == "high", row
        heights = [row["height"] for row in rows]
        assert heights == sorted(heights, reverse=True), heights
        assert max(heights) == (360 if phone else 720) and min(heights) <= 180, heights
    assert [row["height"] for row in table if not row["phone"]][:4] == [720, 360, 240, 240]
    assert all(row["camera"]["maxFramerate"] <= 15 for row in table if row["links"] > 5)


ADAPTATION_JS = """async () => {
  const { Adaptation } = await import("/static/js/budget.js");
  const adaptation = new Adaptation();
  const steps = [];
  let now = 0;
  const poll = (congested) => {
    now += 1000;
    for (const peer of ["bob", "carol", "dave"]) adaptation.observe(peer, congested.includes(peer), now);
    steps.push(["bob", "carol", "dave"].map((peer) => adaptation.step(peer)));
  };
  for (let i = 0; i < 10; i += 1) poll(["bob"]);
  for (let i = 0; i < 30; i += 1) poll([]);
  return steps;
}"""


def test_a_congested_link_is_lowered_first_then_the_others_and_all_rise_when_it_clears(call):
    steps = call[0][0].evaluate(ADAPTATION_JS)  # 10 polls with Bob's link congested, then 30 clear
    changes = [step for before, step in zip([[0, 0, 0], *steps], steps, strict=False) if step != before]
    # Bob's link alone first; still congested, the others with it (they share the uplink).
    assert changes[0] == [1, 0, 0], changes
    assert changes[1] == [2, 1, 1], changes
    assert all(step[0] > step[1] == step[2] for step in steps[3:10]), steps
    # Cleared: nothing rises at once (a few clear seconds first), then step by step back to the table.
    assert steps[10:15] == [steps[9]] * 5, steps
    for higher, lower in itertools.pairwise(steps[9:]):
        assert all(a >= b for a, b in zip(higher, lower, strict=True)), steps
    assert steps[-1] == [0, 0, 0], steps


def test_each_link_stays_under_its_share_and_audio_keeps_flowing(call):
    pages, _ = call
    share_kbps = BUDGET_KBPS / 3
    for page in pages[:2]:
        wait_for(
            lambda p=page: min(camera_scales(p)) >= 3, what="240p at most with four", last=lambda p=page: senders(p)
        )
    time.sleep(2)  # what was encoded before the new limit has left
    before = [senders(page) for page in pages[:2]]
    time.sleep(5)
    after = [senders(page) for page in pages[:2]]
    for first, last in zip(before, after, strict=True):
        assert len(last) == 3
        for peer_id, link in last.items():
            seconds = (link["at"] - first[peer_id]["at"]) / 1000
            video_kbps = (link["camera"]["bytes"] - first[peer_id]["camera"]["bytes"]) * 8 / seconds / 1000
            audio_kbps = (link["audio"]["bytes"] - first[peer_id]["audio"]["bytes"]) * 8 / seconds / 1000
            # The network may have lowered the link meanwhile (a busy machine delays loopback packets too).
            allowed = max(link["camera"]["maxBitrate"], first[peer_id]["camera"]["maxBitrate"])
            assert allowed <= share_kbps * 1000, link
            assert 50 < video_kbps <= share_kbps, (video_kbps, link)
            assert video_kbps <= allowed / 1000 * 1.15, (video_kbps, link)
            assert audio_kbps > 10, (audio_kbps, link)
            assert link["audio"]["priority"] == "high", link
            assert link["camera"]["degradation"] == "maintain-framerate", link


def test_a_shared_screen_keeps_its_resolution_while_the_camera_follows_the_table(call):
    pages, _ = call
    alice = pages[0]
    alice.click("#toggle-screen")
    expect(alice.locator("#toggle-screen")).to_have_attribute("aria-pressed", "true")

    def screen_sent():
        links = senders(alice)
        screens = [link["screen"] for link in links.values()]
        if len(screens) == 3 and all(screen and screen["height"] for screen in screens):
            return links
        return None

    links = wait_for(screen_sent, what="Alice's screen sent on every link", last=lambda: senders(alice))
    for link in links.values():
        screen, camera = link["screen"], link["camera"]
        assert screen["degradation"] == "maintain-resolution", screen
        assert screen["scale"] == 1 and screen["maxFramerate"] <= 5, screen
        assert screen["height"] == screen["trackHeight"] > 240, screen
        # While presenting the camera steps aside: a thumbnail, most of the link's share to the screen.
        assert camera["scale"] >= camera["trackHeight"] / 180, camera
        assert screen["maxBitrate"] + camera["maxBitrate"] <= BUDGET_KBPS / 3 * 1000, link
    alice.click("#toggle-screen")
    expect(alice.locator("#toggle-screen")).to_have_attribute("aria-pressed", "false")


def test_the_picture_drops_when_the_fourth_joins_and_rises_when_two_leave(call):
    """The table's scale and the height Chromium sends: with three 360p at most (scale 2 of 720p), with
    four 240p at most (scale 3, or more when the network lowers a link), with two larger again. (The
    sent height can be below the table's when Chromium's own CPU adaptation lowers it on a busy machine.)"""
    pages, with_three = call
    alice = pages[0]
    assert {link["camera"]["scale"] for link in with_three.values()} == {2}, with_three

    def smaller():
        links = senders(alice)
        heights = [link["camera"]["height"] for link in links.values()]
        if len(links) == 3 and all(0 < height <= 240 for height in heights):
            return links
        return None

    with_four = wait_for(smaller, what="Alice's camera at 240p with four", last=lambda: senders(alice))
    four_scale = min(link["camera"]["scale"] for link in with_four.values())
    assert four_scale >= 3, with_four
    four_height = max(link["camera"]["height"] for link in with_four.values())

    close(pages[2], pages[3])  # Carol and Dave leave
    wait_connected(alice, 1)
    # 720p for the one link left, unless the network holds it lower for a while.
    wait_for(
        lambda: (scales := camera_scales(alice)) and max(scales) < four_scale,
        what="a larger picture allowed",
        last=lambda: senders(alice),
    )
    wait_for(
        lambda: max(link["camera"]["height"] for link in senders(alice).values()) > four_height,
        what="Alice's camera sent larger again",
        last=lambda: senders(alice),
    )
