"""The stage as people see it: tiles fill it, an adaptive grid (2×2 on a phone too), speaker view driven
by who really speaks, pin, fit, full screen, picture-in-picture, and a 1:1 call with a floating self-view."""

import re

from playwright.sync_api import expect

from tests.browser.call import assert_video_flowing, close, enter, screenshot, wait_connected

DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}

BOXES_JS = """() => [...document.querySelectorAll('#tiles .tile')].map((tile) => {
  const box = tile.getBoundingClientRect();
  const video = tile.querySelector('video');
  return {id: tile.dataset.peerId, x: box.x, y: box.y, w: box.width, h: box.height,
          fit: getComputedStyle(video).objectFit, videoW: video.getBoundingClientRect().width,
          main: tile.classList.contains('main'), floating: tile.classList.contains('floating'),
          speaking: tile.classList.contains('speaking')};
})"""


def boxes(page) -> dict:
    return {box["id"]: box for box in page.evaluate(BOXES_JS)}


def classes(*names: str) -> re.Pattern:
    return re.compile("".join(rf"(?=.*\b{name}\b)" for name in names))


def peer_id(page) -> str:
    return page.evaluate("() => window.parley.selfId")


def columns(page) -> int:
    return len({round(box["x"]) for box in boxes(page).values()})


def test_grid_speaker_view_pin_fullscreen_pip_and_one_to_one(browser, app_server):
    names = ("alice", "bob", "carol", "dave")
    pages = [enter(browser, app_server, name, "stage", mic=False) for name in names]
    alice, bob, carol, dave = pages
    try:
        alice.set_viewport_size(DESKTOP)
        bob.set_viewport_size(PHONE)
        for page in (alice, bob):
            assert_video_flowing(page, 3, app_server)
        # Four people: a 2×2 grid on the desktop and on the phone, every video cropped to fill its tile.
        for page in (alice, bob):
            expect(page.locator("#tiles")).to_have_attribute("data-layout", "grid")
            page.wait_for_function("() => document.querySelectorAll('#tiles .tile').length === 4")
            assert columns(page) == 2, boxes(page)
            for box in boxes(page).values():
                assert box["fit"] == "cover" and abs(box["videoW"] - (box["w"] - 4)) <= 2, box
        tiles = boxes(alice)
        assert min(box["w"] for box in tiles.values()) > 400, tiles
        screenshot(alice, "grid-4.png")
        screenshot(bob, "phone-call.png")

        # Speaker view follows the one who speaks: only Bob's microphone is on, then only Carol's.
        alice.click("#toggle-layout")
        expect(alice.locator("#toggle-layout")).to_have_attribute("aria-pressed", "true")
        expect(alice.locator("#tiles")).to_have_attribute("data-layout", "speaker")
        bob.click("#toggle-mic")
        bob_tile = alice.locator(f'.tile[data-peer-id="{peer_id(bob)}"]')
        carol_tile = alice.locator(f'.tile[data-peer-id="{peer_id(carol)}"]')
        # A loaded machine delays the first audio levels: the view follows within seconds.
        expect(bob_tile).to_have_class(classes("main", "speaking"), timeout=10_000)
        tiles = boxes(alice)
        main = tiles[peer_id(bob)]
        assert all(main["w"] > 2 * box["w"] for key, box in tiles.items() if key != peer_id(bob)), tiles
        screenshot(alice, "speaker-view.png")
        bob.click("#toggle-mic")
        carol.click("#toggle-mic")
        # Chromium's fake microphone beeps briefly: on a loaded machine the level may miss a few beeps.
        expect(carol_tile).to_have_class(classes("main", "speaking"), timeout=20_000)
        expect(bob_tile).not_to_have_class(classes("speaking"))
        # The test hook on levels drives it too.
        alice.evaluate("(id) => window.parley.speakers.setLevel(id, 0.9)", peer_id(dave))
        expect(alice.locator(f'.tile[data-peer-id="{peer_id(dave)}"]')).to_have_class(classes("main", "speaking"))
        alice.evaluate("(id) => window.parley.speakers.setLevel(id, null)", peer_id(dave))

        # Pin keeps Bob on the stage whoever speaks; fit shows the whole picture.
        bob_tile.hover()
        bob_tile.get_by_role("button", name="Pin to the stage").click()
        expect(bob_tile.locator(".tile-tool").first).to_have_attribute("aria-pressed", "true")
        expect(bob_tile).to_have_class(classes("main"))
        fit = bob_tile.get_by_role("button", name="Show the whole picture")
        fit.click()
        expect(fit).to_have_attribute("aria-pressed", "true")
        assert boxes(alice)[peer_id(bob)]["fit"] == "contain"
        # Full screen of one tile, then picture-in-picture of the one on the stage.
        bob_tile.get_by_role("button", name="Full screen").click()
        alice.wait_for_function("(id) => document.fullscreenElement?.dataset.peerId === id", arg=peer_id(bob))
        alice.evaluate("() => document.exitFullscreen()")
        alice.click("#toggle-pip")
        alice.wait_for_function(
            "(id) => document.pictureInPictureElement === document.querySelector(`.tile[data-peer-id='${id}'] video`)",
            arg=peer_id(bob),
        )
        alice.click("#toggle-pip")
        alice.wait_for_function("() => !document.pictureInPictureElement")
        bob_tile.get_by_role("button", name="Unpin").click()
        alice.click("#toggle-layout")

        # Two people: the other fills the stage, the self-view floats small in a corner and can be dragged.
        for page in (carol, dave, bob):
            page.click("#leave")
        bob = enter(browser, app_server, "bob", "stage")
        pages[1] = bob
        wait_connected(alice, 1)
        expect(alice.locator("#tiles")).to_have_attribute("data-layout", "duo")
        stage = alice.locator("#tiles").bounding_box()
        tiles = boxes(alice)
        other = tiles[peer_id(bob)]
        mine = tiles["self"]
        assert other["w"] >= stage["width"] - 2 and other["h"] >= stage["height"] - 2, (other, stage)
        assert mine["floating"] and mine["w"] < stage["width"] * 0.3, mine
        assert mine["x"] > stage["x"] + stage["width"] / 2 and mine["y"] > stage["y"] + stage["height"] / 2
        assert_video_flowing(alice, 1, app_server)
        alice.mouse.move(mine["x"] + 20, mine["y"] + 20)
        alice.mouse.down()
        alice.mouse.move(stage["x"] + 60, stage["y"] + 60, steps=5)
        alice.mouse.up()
        expect(alice.locator(".tile.local")).to_have_attribute("data-corner", "tl")
        mine = boxes(alice)["self"]
        assert mine["x"] < stage["x"] + 30 and mine["y"] < stage["y"] + 30, mine
    finally:
        close(*pages)
