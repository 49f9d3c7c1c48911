"""Screen share beside the camera: viewers keep the presenter's camera and get the screen on the stage,
the presenter sees that they present and can stop, and the camera is as sharp afterwards as the upload
budget allows."""

from playwright.sync_api import expect

from tests.browser.call import assert_video_flowing, close, enter, screenshot, wait_for

DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}

# Per inbound video track at this page: frames decoded (an increase means it plays).
VIDEO_FRAMES_JS = """async () => {
  const out = {};
  for (const link of window.parley.links.values()) {
    (await link.pc.getStats()).forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") out[s.trackIdentifier] = s.framesDecoded || 0;
    });
  }
  return out;
}"""


# The camera's captured size divided by the scale its sender has for the first link: what that peer gets.
CAMERA_AS_SENT_JS = """() => {
  const settings = window.parley.media.cameraTrack.getSettings();
  const link = [...window.parley.links.values()][0];
  const scale = link.transceivers.video.sender.getParameters().encodings[0].scaleResolutionDownBy || 1;
  return [Math.round(settings.width / scale), Math.round(settings.height / scale)];
}"""


def video_size(page, tile_id: str) -> list[int]:
    script = """(id) => {
      const video = document.querySelector(`.tile[data-peer-id='${id}'] video`);
      return video ? [video.videoWidth, video.videoHeight] : [0, 0];
    }"""
    return page.evaluate(script, tile_id)


def frames_rising(page) -> bool:
    """Two or more inbound videos, each decoding more frames within 1.5 s (polled: flowing video passes at once)."""
    before = page.evaluate(VIDEO_FRAMES_JS)
    for _ in range(15):
        page.wait_for_timeout(100)
        after = page.evaluate(VIDEO_FRAMES_JS)
        if len(after) >= 2 and all(after[track] > before.get(track, 0) for track in after):
            return True
    return False


def test_screen_share_beside_the_camera_on_the_stage_and_back(browser, app_server):
    alice = enter(browser, app_server, "alice", "present", mic=False)
    bob = enter(browser, app_server, "bob", "present", mic=False)
    pages = [alice, bob]
    try:
        for page in pages:
            page.set_viewport_size(DESKTOP)
        assert_video_flowing(bob, 1, app_server)
        alice_id = alice.evaluate("() => window.parley.selfId")
        camera = wait_for(lambda: min(size := video_size(bob, alice_id)) > 0 and size, what="Alice's camera at Bob's")
        own_camera = video_size(alice, "self")

        alice.click("#toggle-screen")
        expect(alice.locator("#toggle-screen")).to_have_attribute("aria-pressed", "true")
        presenting = alice.locator("#presenting")
        expect(presenting).to_be_visible()
        expect(presenting).to_contain_text("You are presenting to everyone")
        screenshot(alice, "presenting.png")
        # Bob: the screen is a tile of its own, on the stage; Alice's camera stays in the strip.
        screen_tile = bob.locator(f'.tile[data-peer-id="{alice_id}:screen"]')
        expect(screen_tile).to_have_class("tile shared-screen main")
        expect(screen_tile.locator(".tile-name")).to_have_text("Alice Liddell's screen")
        expect(bob.locator("#tiles")).to_have_attribute("data-layout", "speaker")
        expect(bob.locator(f'#participants li[data-peer-id="{alice_id}"]')).to_contain_text("presenting")
        # Two videos from Alice, both playing: the camera and the (larger) screen.
        wait_for(lambda: frames_rising(bob), what="camera and screen frames rising at Bob's")
        wait_for(lambda: video_size(bob, f"{alice_id}:screen")[0] > camera[0], what="the screen's picture")
        assert video_size(bob, alice_id)[0] > 0
        # Alice still sees her camera in her own tile, not her screen.
        assert video_size(alice, "self") == own_camera
        screenshot(bob, "screen-share.png")
        bob.set_viewport_size(PHONE)
        expect(screen_tile).to_have_class("tile shared-screen main")
        screenshot(bob, "screen-share-phone.png")
        bob.set_viewport_size(DESKTOP)

        # Someone who joins during the share gets the screen too.
        carol = enter(browser, app_server, "carol", "present", mic=False)
        pages.append(carol)
        expect(carol.locator(f'.tile[data-peer-id="{alice_id}:screen"]')).to_have_class("tile shared-screen main")
        wait_for(lambda: video_size(carol, f"{alice_id}:screen")[0] > camera[0], what="the screen at Carol's")

        alice.click("#stop-presenting")
        expect(presenting).to_be_hidden()
        expect(alice.locator("#toggle-screen")).to_have_attribute("aria-pressed", "false")
        expect(screen_tile).to_have_count(0)
        expect(carol.locator(f'.tile[data-peer-id="{alice_id}:screen"]')).to_have_count(0)
        # The camera comes back as sharp as the upload budget gives three people (docs/media.md: 360p).
        expected = alice.evaluate(CAMERA_AS_SENT_JS)
        assert expected[1] <= 360, expected
        wait_for(
            lambda: video_size(bob, alice_id) == expected,
            what="the camera's size",
            last=lambda: video_size(bob, alice_id),
        )
        assert_video_flowing(bob, 2, app_server)
        assert video_size(bob, alice_id) == expected
    finally:
        close(*pages)
