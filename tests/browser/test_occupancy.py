"""Live occupancy on the lobby and the pre-join screen, and refusals that say why (issue 16
items 4 and 5), as a person sees them."""

from playwright.sync_api import expect

from tests.browser.call import close, enter, join, screenshot, sign_in
from tests.browser.test_accessibility import serious_violations

LIVE_TIMEOUT = 15_000  # ms: the pages poll every 5 s


def test_the_lobby_count_changes_when_someone_joins(browser, app_server):
    dave = sign_in(browser, app_server, "dave", "/")
    alice = None
    try:
        line = dave.locator('[data-occupancy="occupancy"]')
        expect(line).to_have_text("0 / 8 in the call")
        alice = enter(browser, app_server, "alice", "occupancy")
        expect(line).to_have_text("1 / 8 in the call · Alice Liddell", timeout=LIVE_TIMEOUT)
        dave.set_viewport_size({"width": 390, "height": 844})
        screenshot(dave, "lobby-occupancy-phone.png")
        assert serious_violations(dave) == []
        alice.click("#leave")
        expect(line).to_have_text("0 / 8 in the call", timeout=LIVE_TIMEOUT)
    finally:
        close(*(page for page in (dave, alice) if page is not None))


def test_a_full_room_is_told_before_the_device_check_and_opens_when_a_seat_frees(browser, app_server):
    alice = enter(browser, app_server, "alice", "seat")
    bob = enter(browser, app_server, "bob", "seat")
    carol = sign_in(browser, app_server, "carol", "/rooms/seat/")
    try:
        expect(carol.locator("#room-full-notice")).to_have_text(
            "This room is full (2 of 2). You can join as soon as someone leaves: this page will tell you."
        )
        expect(carol.locator("#room-occupancy")).to_contain_text("2 / 2 in the call · full")
        expect(carol.locator("#join")).to_be_disabled()
        # The device check has not started: no camera was opened for a call that cannot be joined.
        assert carol.evaluate("() => window.parley.media.cameraTrack") is None
        screenshot(carol, "prejoin-full.png")
        assert serious_violations(carol) == []
        bob.click("#leave")
        expect(carol.locator("#room-full-notice")).to_be_hidden(timeout=LIVE_TIMEOUT)
        expect(carol.locator("#join")).to_be_enabled()
        join(carol)
        expect(alice.locator("#participants")).to_contain_text("Carol <b>Danvers</b>")
    finally:
        close(alice, bob, carol)


def test_a_removed_person_is_told_by_whom_and_for_how_long_in_their_language(browser, app_server):
    alice = enter(browser, app_server, "alice", "removal")
    bob = enter(browser, app_server, "bob", "removal")
    try:
        alice.locator("#participants li", has_text="Bob Builder").locator(".participant-remove").click()
        expect(bob.locator("#ended-reason")).to_have_text(
            "You were removed by Alice Liddell; you can rejoin in 5 minutes."
        )
        bob.goto(f"{app_server.url}/rooms/removal/")
        expect(bob.locator("#join")).to_have_count(0)
        expect(bob.locator("main h1")).to_have_text("You were removed from this room")
        expect(bob.locator("main")).to_contain_text("You were removed by Alice Liddell; you can rejoin in 5 minutes.")
        chinese = sign_in(browser, app_server, "bob", "/rooms/removal/", locale="zh-CN")
        expect(chinese.locator("main")).to_contain_text("你被 Alice Liddell 移出；5 分钟后可以重新加入。")
        chinese.context.close()
    finally:
        close(alice, bob)
