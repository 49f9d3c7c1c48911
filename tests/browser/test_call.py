"""The call page in Chromium: people see each other, media controls, chat, mesh, leave, languages."""

import pytest
from playwright.sync_api import expect

from tests.browser.call import (
    UFRAG_JS,
    assert_video_flowing,
    close,
    enter,
    join,
    link_stats,
    open_room,
    screenshot,
    sign_in,
    wait_connected,
    wait_for,
)
from tests.browser.conftest import browser_launch, chromium_args

XSS = "<img src=x onerror=\"document.title='pwned'\">"
# Every one of `count` remote tiles has had a stats round while connected (its quality level is known).
STATS_ROUND_DONE_JS = """(count) => {
  const levels = [...document.querySelectorAll('.tile:not(.local) .tile-quality')].map((b) => b.dataset.level);
  return levels.length === count && levels.every((level) => level && level !== 'none');
}"""


def remote_tile(page, name: str):
    return page.locator(".tile:not(.local)", has=page.locator(".tile-name", has_text=name))


def test_two_users_see_each_other(browser, app_server):
    alice = open_room(browser, app_server, "alice", "pair")
    expect(alice.locator("#preview")).to_be_visible()
    alice.wait_for_function("() => document.getElementById('preview').videoWidth > 0")
    screenshot(alice, "prejoin.png")
    join(alice)
    bob = enter(browser, app_server, "bob", "pair")
    try:
        assert_video_flowing(alice, 1, app_server)
        assert_video_flowing(bob, 1, app_server)
        expect(alice.locator(".tile:not(.local) .tile-name")).to_have_text("Bob Builder")
        expect(bob.locator(".tile:not(.local) .tile-name")).to_have_text("Alice Liddell")
        expect(bob.locator(".tile:not(.local) .tile-state")).to_contain_text("Connected")
        expect(bob.locator("#participants li")).to_have_count(2)
        bob.set_viewport_size({"width": 420, "height": 900})
        screenshot(bob, "in-call-narrow.png")
    finally:
        close(alice, bob)


def test_prejoin_switches_camera_and_joins_with_the_chosen_one(browser, app_server):
    page = open_room(browser, app_server, "dave", "devices")
    try:
        expect(page.locator("#camera-select option")).to_have_count(3)
        current = "() => window.parley.media.cameraTrack.getSettings().deviceId"
        first = page.evaluate(current)
        chosen = page.locator("#camera-select option", has_text="fake_device_2").get_attribute("value")
        assert chosen and chosen != first
        page.select_option("#camera-select", chosen)
        page.wait_for_function(f"() => ({current})() === {chosen!r}")
        page.wait_for_function("() => document.getElementById('preview').videoWidth > 0")
        join(page, mic=False)
        expect(page.locator("#toggle-mic")).to_have_attribute("aria-pressed", "true")
        assert page.evaluate(current) == chosen
    finally:
        close(page)


def test_switching_camera_in_the_call_keeps_video_flowing(browser, app_server):
    alice = enter(browser, app_server, "alice", "switch")
    bob = enter(browser, app_server, "bob", "switch")
    try:
        wait_connected(alice, 1)
        bob.click("#camera-menu-button")
        current = "() => window.parley.media.cameraTrack.getSettings().deviceId"
        chosen = bob.locator("#call-camera-select option", has_text="fake_device_2").get_attribute("value")
        assert chosen and chosen != bob.evaluate(current)
        bob.select_option("#call-camera-select", chosen)
        bob.wait_for_function(f"() => ({current})() === {chosen!r}")
        sends_camera = "() => [...window.parley.links.values()][0].transceivers.video.sender.track"
        sends_camera += " === window.parley.media.cameraTrack"
        bob.wait_for_function(sends_camera)
        assert_video_flowing(alice, 1, app_server)
    finally:
        close(alice, bob)


def test_mute_and_camera_off_show_on_the_peer(browser, app_server):
    alice = enter(browser, app_server, "alice", "mute")
    bob = enter(browser, app_server, "bob", "mute")
    try:
        wait_connected(alice, 1)
        tile = remote_tile(bob, "Alice Liddell")
        expect(tile.locator(".tile-muted")).to_be_hidden()
        alice.click("#toggle-mic")
        expect(alice.locator("#toggle-mic")).to_have_attribute("aria-pressed", "true")
        expect(tile.locator(".tile-muted")).to_be_visible()
        expect(bob.locator("#participants li", has_text="Alice Liddell")).to_contain_text("muted")
        assert alice.evaluate("() => window.parley.media.audioTrack.enabled") is False
        alice.click("#toggle-camera")
        expect(tile).to_have_class("tile camera-off")
        expect(tile.locator(".tile-avatar")).to_be_visible()
        alice.click("#toggle-mic")
        alice.click("#toggle-camera")
        expect(tile.locator(".tile-muted")).to_be_hidden()
        expect(tile.locator(".tile-avatar")).to_be_hidden()
    finally:
        close(alice, bob)


def test_chat_arrives_as_text_not_markup(browser, app_server):
    alice = enter(browser, app_server, "alice", "chat")
    bob = enter(browser, app_server, "bob", "chat")
    try:
        alice.fill("#chat-input", XSS)
        alice.press("#chat-input", "Enter")
        message = bob.locator("#chat-log .chat-message")
        expect(message.locator(".chat-text")).to_have_text(XSS)
        expect(message.locator(".chat-name")).to_have_text("Alice Liddell")
        assert bob.locator("#chat-log img").count() == 0
        assert bob.title() != "pwned"
        expect(alice.locator("#chat-log .chat-message.mine .chat-text")).to_have_text(XSS)
        expect(alice.locator("#chat-input")).to_have_value("")
    finally:
        close(alice, bob)


def test_three_user_mesh_and_leave_removes_the_tile(browser, app_server):
    pages = [enter(browser, app_server, name, "mesh") for name in ("alice", "bob", "carol")]
    alice, bob, carol = pages
    try:
        for page in pages:
            assert_video_flowing(page, 2, app_server)
        # A display name with markup is shown as typed.
        expect(remote_tile(alice, "Carol <b>Danvers</b>")).to_have_count(1)
        assert alice.locator(".tile b").count() == 0
        bob.fill("#chat-input", "Can everyone see my screen?")
        bob.press("#chat-input", "Enter")
        carol.click("#toggle-mic")
        expect(remote_tile(alice, "Carol <b>Danvers</b>").locator(".tile-muted")).to_be_visible()
        expect(alice.locator("#chat-log .chat-text")).to_have_text("Can everyone see my screen?")
        # A stats round fills in each tile's connection state and quality, for the screenshot.
        alice.wait_for_function(STATS_ROUND_DONE_JS, arg=2)
        screenshot(alice, "in-call.png")
        carol_id = carol.evaluate("() => window.parley.selfId")
        carol.click("#leave")
        expect(carol.locator("#ended")).to_be_visible()
        for page in (alice, bob):
            expect(page.locator(f'.tile[data-peer-id="{carol_id}"]')).to_have_count(0)
            expect(page.locator("#participants li")).to_have_count(2)
            wait_for(lambda page=page: carol_id not in link_stats(page), what="carol's link closed")
        assert_video_flowing(alice, 1, app_server)
    finally:
        close(*pages)


def test_denied_permission_explains_and_joins_without_media(app_server, browser, denied_browser):
    bob = enter(browser, app_server, "bob", "denied")
    try:
        dave = open_room(denied_browser, app_server, "dave", "denied")
        expect(dave.locator("#media-error")).to_be_visible()
        expect(dave.locator("#media-error")).to_contain_text("denied")
        join(dave)
        expect(dave.locator("#toggle-camera")).to_be_disabled()
        tile = remote_tile(bob, "Dave")
        expect(tile.locator(".tile-avatar")).to_be_visible()
        expect(tile.locator(".tile-muted")).to_be_visible()
        # Dave receives Bob's video even without sending any.
        wait_connected(dave, 1)
        dave.context.close()
    finally:
        close(bob)


def test_no_devices_explains_and_joins_to_watch(
    playwright_instance, chromium_bin_module, netns, app_workdir, app_server
):
    """Without Chromium's fake devices this machine has no camera and no microphone at all."""
    args = [arg for arg in chromium_args() if not arg.startswith("--use-fake-device-for-media-stream")]
    bare = browser_launch(playwright_instance, chromium_bin_module, netns, app_workdir, args=args)
    try:
        dave = open_room(bare, app_server, "dave", "nodevices")
        if dave.evaluate("async () => (await navigator.mediaDevices.enumerateDevices()).some((d) => d.deviceId)"):
            pytest.skip("this machine has a real camera or microphone")
        expect(dave.locator("#media-error")).to_have_text(
            "No camera or microphone was found. You can still join to watch, listen and chat."
        )
        expect(dave.locator("#preview-off")).to_have_text("No camera")
        expect(dave.locator("#camera-select")).to_be_disabled()
        join(dave)
        expect(dave.locator("#toggle-mic")).to_be_disabled()
        expect(dave.locator("#toggle-camera")).to_be_disabled()
        # Leaving frees Dave's seat at once (a closed browser would hold it for the resume grace,
        # and a held seat makes him busy for the direct-call tests that follow).
        dave.click("#leave")
        expect(dave.locator("#ended")).to_be_visible()
    finally:
        bare.close()


def test_chinese_interface_follows_the_browser_and_can_be_switched(browser, app_server):
    page = open_room(browser, app_server, "alice", "shots", locale="zh-CN")
    try:
        expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
        expect(page.locator("#join")).to_have_text("加入通话")
        page.wait_for_function("() => document.getElementById('preview').videoWidth > 0")
        screenshot(page, "prejoin-zh-hans.png")
        page.uncheck("#join-camera")
        expect(page.locator("#preview-off")).to_have_text("摄像头已关闭")
        join(page)
        expect(page.locator("#toggle-mic")).to_have_text("静音")
        expect(page.locator(".tile.local .tile-name")).to_have_text("Alice Liddell（你）")
        expect(page.locator("#call-status")).to_have_text("正在等待其他人加入…")
        # The language selector in the top bar switches back to English, once the person agrees to leave the call.
        page.once("dialog", lambda dialog: dialog.accept())
        page.select_option("select[name=language]", "en")
        expect(page.locator("#join")).to_have_text("Join call")
        expect(page.locator("html")).to_have_attribute("lang", "en")
    finally:
        close(page)


def test_full_room_says_so(browser, app_server):
    """Told before the device check (tests/browser/test_occupancy.py), and by the refusal if the
    room filled up meanwhile."""
    alice = enter(browser, app_server, "alice", "full")
    carol = open_room(browser, app_server, "carol", "full")
    bob = None
    try:
        bob = enter(browser, app_server, "bob", "full")
        # Carol clicks Join before her page's next poll (every 5 s) disables it: the race.
        carol.evaluate("() => window.parley.join()")
        expect(carol.locator("#ended")).to_be_visible()
        expect(carol.locator("#ended-reason")).to_have_text("This room is full (2 of 2).")
        expect(carol.locator("#rejoin")).to_be_visible()  # a seat may free up: trying again can work
    finally:
        close(*(page for page in (alice, bob, carol) if page is not None))


def test_ice_restart_on_both_sides_at_once_renegotiates(browser, app_server):
    """Glare: both peers offer at the same moment; perfect negotiation lets the polite one yield."""
    alice = enter(browser, app_server, "alice", "glare")
    bob = enter(browser, app_server, "bob", "glare")
    try:
        wait_connected(alice, 1)
        wait_connected(bob, 1)
        before = {"alice": alice.evaluate(UFRAG_JS), "bob": bob.evaluate(UFRAG_JS)}
        restart = "() => { for (const link of window.parley.links.values()) link.restartIce(); }"
        alice.evaluate(restart)
        bob.evaluate(restart)
        for page, name in ((alice, "alice"), (bob, "bob")):
            wait_for(
                lambda page=page, name=name: page.evaluate(UFRAG_JS) != before[name],
                what=f"new ICE credentials at {name}",
            )
            page.wait_for_function("() => [...window.parley.links.values()][0].pc.signalingState === 'stable'")
        assert_video_flowing(alice, 1, app_server)
        assert_video_flowing(bob, 1, app_server)
    finally:
        close(alice, bob)


def test_owner_removes_a_participant_and_locks_the_room(browser, app_server):
    alice = enter(browser, app_server, "alice", "moderate")  # alice owns every test room
    bob = enter(browser, app_server, "bob", "moderate")
    try:
        expect(bob.locator("#toggle-lock")).to_be_hidden()
        expect(bob.locator(".participant-remove")).to_have_count(0)
        alice.locator("#participants li", has_text="Bob Builder").locator(".participant-remove").click()
        expect(bob.locator("#ended")).to_be_visible()
        expect(bob.locator("#ended-title")).to_have_text("You were removed from the call")
        expect(bob.locator("#ended-reason")).to_contain_text("you can rejoin in 5 minutes.")
        expect(bob.locator("#rejoin")).to_be_hidden()  # it would be refused: only the lobby is offered
        expect(alice.locator(".tile")).to_have_count(1)
        expect(alice.locator("#chat-log .chat-notice").last).to_have_text("Bob Builder was removed from the call.")

        alice.click("#toggle-lock")
        expect(alice.locator("#toggle-lock")).to_have_attribute("aria-pressed", "true")
        expect(alice.locator("#chat-log .chat-notice").last).to_have_text("The room is now locked.")
        # Nobody new gets in while it is locked.
        carol = sign_in(browser, app_server, "carol", "/rooms/moderate/")
        expect(carol.locator("#join")).to_have_count(0)
        expect(carol.locator("main h1")).to_have_text("This room is locked")
        expect(carol.locator("main")).to_contain_text("Nobody new may join until its owner unlocks it.")
        carol.context.close()
    finally:
        close(alice, bob)
