"""A direct call in Chromium: Alice calls Bob by username, Bob accepts on another page, both see video."""

import re

from playwright.sync_api import expect

from tests.browser.call import assert_video_flowing, close, join, sign_in


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

        alice.fill("#call-username", "bob")
        alice.click("#call-form button[type=submit]")
        expect(dialog).to_have_attribute("data-state", "ringing")
        expect(dialog.locator("h2")).to_have_text("Calling Bob Builder…")

        incoming = bob.locator("#ring-dialog")
        expect(incoming).to_have_attribute("data-state", "incoming")
        expect(incoming.locator(".ring-detail")).to_have_text("Alice Liddell is calling you.")
        incoming.locator(".ring-accept").click()

        room_url = re.compile(rf"{re.escape(app_server.url)}/rooms/call-[0-9a-f]+/$")
        alice.wait_for_url(room_url)
        bob.wait_for_url(room_url)
        assert alice.url == bob.url
        room = alice.url
        join(alice)
        join(bob)
        assert_video_flowing(alice, 1, app_server)
        assert_video_flowing(bob, 1, app_server)

        # Alice hangs up: Bob's call ends too, the room closes, and both have it in their history.
        alice.click("#leave")
        bob.wait_for_url(f"{app_server.url}/", timeout=30_000)
        assert alice.evaluate("async (url) => (await fetch(url)).status", room) == 404
        bob.goto(f"{app_server.url}/calls/")
        row = bob.locator("table.history tbody tr").first
        expect(row).to_contain_text("Incoming")
        expect(row).to_contain_text("Alice Liddell")
        expect(row).to_contain_text(re.compile(r"\d+ s"))
    finally:
        close(*(page for page in (alice, bob) if page is not None))
