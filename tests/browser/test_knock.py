"""Ask to join, as people do it (issue 16 item 3): refused from a private room, Bob knocks; Alice,
in the call, admits him; he enters at once and both see video."""

import re

from playwright.sync_api import expect

from tests.browser.call import close, enter, screenshot, sign_in, wait_connected
from tests.browser.test_accessibility import serious_violations


def test_knock_admit_and_both_see_video(browser, app_server):
    alice = enter(browser, app_server, "alice", "knock")
    bob = sign_in(browser, app_server, "bob", "/rooms/knock/")
    try:
        expect(bob.locator("main h1")).to_have_text("This room is private")
        assert serious_violations(bob) == []
        bob.get_by_role("button", name="Ask to join").click()
        expect(bob.locator("#knock-status")).to_have_text(
            "Waiting for someone in the call to let you in (up to a minute)…"
        )
        prompt = alice.locator("#knocks .knock-item")
        expect(prompt).to_contain_text("Bob Builder asks to join")
        screenshot(alice, "knock-prompt.png")
        assert serious_violations(alice) == []
        prompt.get_by_label("Also add to the allowed people").check()
        prompt.get_by_role("button", name="Admit Bob Builder").click()
        expect(prompt).to_have_count(0)
        bob.wait_for_url(re.compile(r"/rooms/knock/\?pass="))
        expect(bob.locator("#incall")).to_be_visible()
        wait_connected(bob, 1)
        wait_connected(alice, 1)
        expect(alice.locator("#participants")).to_contain_text("Bob Builder")
        # Added to the allowed people: the room opens to him later without knocking.
        again = sign_in(browser, app_server, "bob", "/rooms/knock/")
        expect(again.locator("#join")).to_be_enabled()
        again.context.close()
    finally:
        close(alice, bob)


def test_a_denied_knock_says_who_and_offers_to_ask_again_in_chinese(browser, app_server):
    alice = enter(browser, app_server, "alice", "knock")
    dave = sign_in(browser, app_server, "dave", "/rooms/knock/", locale="zh-CN")
    try:
        dave.set_viewport_size({"width": 390, "height": 844})
        dave.locator("#knock-button").click()
        prompt = alice.locator("#knocks .knock-item")
        expect(prompt).to_contain_text("Dave asks to join")
        prompt.get_by_role("button", name="Deny Dave").click()
        expect(dave.locator("#knock-status")).to_have_text("Alice Liddell 没有让你加入。")
        expect(dave.locator("#knock-button")).to_be_enabled()
        screenshot(dave, "knock-denied-phone-zh.png")
    finally:
        close(alice, dave)
