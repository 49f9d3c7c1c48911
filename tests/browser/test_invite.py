"""An invite link copied by the owner of a private room, opened by someone signed out who signs up
and lands in the call."""

import re

from playwright.sync_api import expect

from tests.browser.call import CALL_TIMEOUT, close, enter, join, screenshot, wait_connected


def test_invite_link_brings_a_new_user_into_the_private_call(browser, app_server):
    alice = enter(browser, app_server, "alice", "invite")
    newcomer = None
    try:
        alice.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=app_server.url)
        # The room is private and has no invitation yet: the owner makes one in its settings.
        alice.click("#show-invite")
        expect(alice.locator("#invite-dialog")).to_contain_text("This private room has no live invitation.")
        settings = alice.context.new_page()
        settings.goto(f"{app_server.url}/rooms/invite/settings/")
        settings.select_option("#id_lifetime", "1d")
        settings.click("#invite-form button[type=submit]")
        expect(settings.locator(".messages")).to_contain_text("New invitation created")
        screenshot(settings, "room-settings.png")
        settings.locator(".invite-item button[data-copy]").click()
        expect(settings.locator(".invite-item .copy-status")).to_have_text("Link copied.")
        link = settings.evaluate("navigator.clipboard.readText()")
        assert re.fullmatch(rf"{re.escape(app_server.url)}/rooms/invite/invite/[^/]+/", link), link
        settings.close()

        # Reloaded, the call's Invite dialog offers the same link (and a QR code for a phone).
        alice.reload()
        join(alice)
        alice.click("#show-invite")
        expect(alice.locator("#invite-url-call")).to_have_value(link)
        alice.locator("#invite-dialog summary").click()
        expect(alice.locator("#invite-dialog svg")).to_be_visible()
        screenshot(alice, "invite-dialog.png")
        alice.locator("#invite-dialog form[method=dialog] button").click()

        context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 760})
        newcomer = context.new_page()
        newcomer.set_default_timeout(CALL_TIMEOUT * 1000)
        newcomer.goto(link)
        expect(newcomer).to_have_url(re.compile(r"/accounts/login/\?next="))
        newcomer.get_by_role("link", name="Create an account").click()
        newcomer.fill("#id_username", "erin")
        newcomer.fill("#id_display_name", "Erin Newcomer")
        newcomer.fill("#id_email", "erin@example.com")
        newcomer.fill("#id_password1", "a-Long-passphrase-42")
        newcomer.fill("#id_password2", "a-Long-passphrase-42")
        newcomer.click("form button[type=submit]")
        newcomer.wait_for_url(f"{app_server.url}/rooms/invite/")
        expect(newcomer.locator("#join")).to_be_enabled()
        join(newcomer)
        wait_connected(newcomer, 1)
        wait_connected(alice, 1)
        expect(alice.locator("#participants")).to_contain_text("Erin Newcomer")
    finally:
        close(*(page for page in (alice, newcomer) if page is not None))
