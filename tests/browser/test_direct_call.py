"""Direct calls in Chromium: calling by username rings, accepting connects at once, like a phone."""

import re

from playwright.sync_api import Page, expect

from tests.browser.call import assert_video_flowing, close, screenshot, sign_in, wait_connected

# The dialog states the caller's page goes through, recorded from the first render on.
RECORD_STATES_JS = """
() => {
  window.ringStates = [];
  const dialog = document.getElementById("ring-dialog");
  new MutationObserver(() => {
    const state = dialog.dataset.state;
    if (state && window.ringStates.at(-1) !== state) window.ringStates.push(state);
  }).observe(dialog, { attributes: true, attributeFilter: ["data-state"] });
}
"""


def room_url(app_server) -> re.Pattern:
    return re.compile(rf"{re.escape(app_server.url)}/rooms/call-[0-9a-f]+/#join$")


def expect_in_call_at_once(page: Page) -> None:
    """No pre-join screen and no Join click: the page is in the call with the default devices."""
    expect(page.locator("#incall")).to_be_visible()
    expect(page.locator("#prejoin")).to_be_hidden()
    page.wait_for_function("() => window.parley && window.parley.selfId !== null")


def test_call_by_username_rings_and_both_see_video(browser, app_server):
    alice = sign_in(browser, app_server, "alice", "/")
    bob = None
    try:
        # Nobody is online yet: calling Dave says so.
        expect(alice.locator("#online-empty")).to_be_visible()
        alice.fill("#call-username", "dave")
        alice.click("#call-form button[type=submit]")
        dialog = alice.locator("#ring-dialog")
        expect(dialog).to_have_attribute("data-state", "offline")
        expect(dialog.locator("h2")).to_have_text("Dave is offline")
        dialog.locator(".ring-close").click()
        expect(dialog).not_to_be_visible()

        bob = sign_in(browser, app_server, "bob", "/calls/")  # any page rings
        expect(alice.locator('#online-users li[data-username="bob"] .online-name')).to_have_text("Bob Builder")

        alice.evaluate(RECORD_STATES_JS)
        alice.fill("#call-username", "bob")
        alice.click("#call-form button[type=submit]")
        expect(dialog).to_have_attribute("data-state", "ringing")
        expect(dialog.locator("h2")).to_have_text("Calling Bob Builder…")
        expect(dialog.locator(".ring-cancel")).to_be_visible()
        alice.evaluate("window.scrollTo(0, 0)")  # the lobby from its top behind the dialog, for the screenshot
        screenshot(alice, "ring-calling.png")

        incoming = bob.locator("#ring-dialog")
        expect(incoming).to_have_attribute("data-state", "incoming")
        expect(incoming.locator("h2")).to_have_text("Alice Liddell")
        expect(incoming.locator(".ring-detail")).to_have_text("@alice")
        expect(bob).to_have_title("Alice Liddell is calling you.")  # for a background tab
        screenshot(bob, "ring-incoming.png")
        assert alice.evaluate("window.ringStates") == ["ringing"]  # it rang before anything else
        incoming.locator(".ring-accept").click()

        alice.wait_for_url(room_url(app_server))
        bob.wait_for_url(room_url(app_server))
        assert alice.url == bob.url
        room = alice.url.removesuffix("#join")
        expect_in_call_at_once(alice)
        expect_in_call_at_once(bob)
        assert_video_flowing(alice, 1, app_server)
        assert_video_flowing(bob, 1, app_server)

        # Alice hangs up: Bob's call ends too, the room closes, and both have it in their history.
        alice.click("#leave")
        bob.wait_for_url(f"{app_server.url}/", timeout=30_000)
        assert bob.evaluate("async (url) => (await fetch(url)).status", room) == 404  # Alice may be navigating
        bob.goto(f"{app_server.url}/calls/")
        row = bob.locator("table.history tbody tr").first
        expect(row).to_contain_text("Incoming")
        expect(row).to_contain_text("Alice Liddell")
        expect(row).to_contain_text(re.compile(r"\d+ s"))
    finally:
        close(*(page for page in (alice, bob) if page is not None))


def test_callee_without_camera_permission_joins_at_once_and_is_told_why(app_server, browser, denied_browser):
    """Dave (Chinese UI) denied the camera: accepting still joins him, and the call says why he sends nothing."""
    carol = None
    try:
        dave = sign_in(denied_browser, app_server, "dave", "/", locale="zh-Hans")
        carol = sign_in(browser, app_server, "carol", "/")
        # Dave's presence socket is open (Carol's list shows him) before she calls: else he is offline.
        expect(carol.locator('#online-users li[data-username="dave"]')).to_be_visible(timeout=15_000)
        carol.fill("#call-username", "dave")
        carol.click("#call-form button[type=submit]")
        incoming = dave.locator("#ring-dialog")
        expect(incoming).to_have_attribute("data-state", "incoming")
        # Carol's display name is markup: it shows as text, and the tab title says it in Chinese.
        expect(incoming.locator("h2")).to_have_text("Carol <b>Danvers</b>")
        expect(dave).to_have_title("Carol <b>Danvers</b> 正在呼叫你。")
        expect(incoming.locator(".ring-accept")).to_have_text("接听")
        screenshot(dave, "ring-incoming-zh-hans.png")
        incoming.locator(".ring-accept").click()

        dave.wait_for_url(room_url(app_server))
        expect_in_call_at_once(dave)
        expect(dave.locator("#chat-log .chat-notice")).to_contain_text("摄像头和麦克风的访问被拒绝")
        expect(dave.locator("#toggle-camera")).to_be_disabled()
        carol.wait_for_url(room_url(app_server))
        expect_in_call_at_once(carol)
        wait_connected(dave, 1)  # Dave receives Carol's video even without sending any.
        carol.click("#leave")
    finally:
        if carol is not None:
            close(carol)
