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
        for page in (bob, alice):  # both read the ending and its length, nothing of the closed room behind it
            ended = page.locator("#ring-dialog")
            expect(ended).to_have_attribute("data-state", "hangup")
            expect(ended.locator("h2")).to_have_text("Call ended")
            expect(ended.locator(".ring-detail")).to_have_text(re.compile(r"^\d+:\d\d$"))
            expect(ended.get_by_role("button", name="Call again")).to_be_visible()
            expect(page.locator("#call")).to_be_hidden()
        screenshot(bob, "call-ended.png")
        assert bob.evaluate("async (url) => (await fetch(url)).status", room) == 404
        bob.locator("#ring-dialog").get_by_role("button", name="Back to the lobby").click()
        bob.wait_for_url(f"{app_server.url}/")
        bob.goto(f"{app_server.url}/calls/")
        row = bob.locator("table.history tbody tr").first
        expect(row).to_contain_text("Incoming")
        expect(row).to_contain_text("Alice Liddell")
        expect(row).to_contain_text("Answered")
        expect(row.locator("time")).to_have_text(re.compile(r"^today \d\d:\d\d$"))
        expect(row).to_contain_text(re.compile(r"\b\d+:\d\d\b"))
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
        # (A "joined" notice may come before or after it.)
        expect(dave.locator("#chat-log .chat-notice", has_text="摄像头和麦克风的访问被拒绝")).to_be_visible()
        expect(dave.locator("#toggle-camera")).to_be_disabled()
        carol.wait_for_url(room_url(app_server))
        expect_in_call_at_once(carol)
        wait_connected(dave, 1)  # Dave receives Carol's video even without sending any.
        carol.click("#leave")
    finally:
        if carol is not None:
            close(carol)


def test_a_missed_call_tells_the_callee_and_the_history_fits_a_phone(browser, app_server):
    alice = sign_in(browser, app_server, "alice", "/")
    bob = None
    try:
        bob = sign_in(browser, app_server, "bob", "/")
        expect(alice.locator('#online-users li[data-username="bob"]')).to_be_visible(timeout=15_000)
        alice.fill("#call-username", "bob")
        alice.click("#call-form button[type=submit]")
        expect(bob.locator("#ring-dialog")).to_have_attribute("data-state", "incoming")
        alice.locator("#ring-dialog .ring-cancel").click()  # Alice gives up before Bob answers

        notice = bob.locator("#ring-dialog")
        expect(notice).to_have_attribute("data-state", "missed")
        expect(notice.locator("h2")).to_have_text("Missed call from Alice Liddell")
        expect(notice.get_by_role("button", name="Call back")).to_be_visible()
        expect(bob.locator("#calls-badge")).to_have_text("1")
        screenshot(bob, "missed-call.png")
        notice.locator(".ring-close").click()
        bob.reload()
        expect(bob.locator("#calls-badge")).to_have_text("1")  # until he has seen it

        bob.set_viewport_size({"width": 390, "height": 844})
        bob.goto(f"{app_server.url}/calls/")
        expect(bob.locator("#calls-badge")).to_be_hidden()
        row = bob.locator("table.history tbody tr").first
        expect(row).to_have_class("missed")
        expect(row).to_contain_text("Missed call")
        expect(row.get_by_role("button", name="Call back")).to_be_visible()
        fits = bob.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        assert fits, "the history scrolls sideways on a phone"
        box = row.bounding_box()
        assert box["width"] <= 390 and box["height"] > 100, "each call is a stacked card on a phone"
        screenshot(bob, "history-phone.png")

        alice.goto(f"{app_server.url}/calls/")
        mine = alice.locator("table.history tbody tr").first
        expect(mine).to_contain_text("Outgoing")
        expect(mine).to_contain_text("You cancelled")
        expect(mine).not_to_have_class("missed")

        # Call back from the history rings Alice.
        bob.goto(f"{app_server.url}/calls/")
        bob.locator("table.history tbody tr").first.get_by_role("button", name="Call back").click()
        expect(alice.locator("#ring-dialog")).to_have_attribute("data-state", "incoming")
        expect(alice.locator("#ring-dialog h2")).to_have_text("Bob Builder")
        bob.locator("#ring-dialog .ring-cancel").click()
    finally:
        close(*(page for page in (alice, bob) if page is not None))
