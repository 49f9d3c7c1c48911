"""No ghost seats (issue #16.6): a browser whose tab died without leaving takes back its own held
seat at once when it comes back (same device id, kept in localStorage; no resume token), in a room
of two that would otherwise be full of its ghost."""

import re

from playwright.sync_api import expect

from tests.browser.call import close, enter, join, sign_in, wait_connected


def self_id(page) -> str:
    return page.evaluate("() => window.parley.selfId")


def test_a_tab_that_died_takes_back_its_seat_in_a_full_room(browser, app_server):
    alice, bob = (enter(browser, app_server, name, "full") for name in ("alice", "bob"))
    carol = None
    try:
        for page in (alice, bob):
            wait_connected(page, 1)
        old_id = self_id(alice)
        device = alice.evaluate("() => localStorage.getItem('parley.device')")
        assert device
        # The tab dies: its socket drops without `leave` (as in a crash), and its resume token is gone.
        alice.evaluate("() => { window.parley.signal.leave = () => {}; }")
        alice.close()
        expect(bob.locator(f'#tiles .tile[data-peer-id="{old_id}"]')).to_have_class(
            re.compile(r"\baway\b"), timeout=10000
        )

        again = alice.context.new_page()  # the same browser: the same localStorage
        again.goto(f"{app_server.url}/rooms/full/")
        expect(again.locator("#join")).to_be_enabled()
        join(again)
        alice = again
        wait_connected(alice, 1)
        assert self_id(alice) != old_id
        assert alice.evaluate("() => localStorage.getItem('parley.device')") == device
        # Bob sees one Alice, not her ghost beside her; the room has 2 people, not 3.
        wait_connected(bob, 1)
        expect(bob.locator("#tiles .tile:not(.local)")).to_have_count(1)
        expect(bob.locator(f'#tiles .tile[data-peer-id="{old_id}"]')).to_have_count(0)
        # Carol, who has no seat there, is told before her device check that the room is full.
        carol = sign_in(browser, app_server, "carol", "/rooms/full/")
        expect(carol.locator("#room-full-notice")).to_contain_text("This room is full (2 of 2)")
        expect(carol.locator("#join")).to_be_disabled()
    finally:
        close(*(page for page in (alice, bob, carol) if page is not None))
