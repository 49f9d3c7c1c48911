"""Signaling drops: a lost socket resumes the same peer; a server restart rejoins and calls again."""

from playwright.sync_api import expect

from tests.browser.call import assert_video_flowing, close, enter, link_stats, open_room, wait_for


def self_id(page) -> str:
    return page.evaluate("() => window.parley.selfId")


def test_server_restart_mid_call(browser, app_server):
    alice = enter(browser, app_server, "alice", "restart")
    bob = enter(browser, app_server, "bob", "restart")
    try:
        assert_video_flowing(alice, 1, app_server)
        assert_video_flowing(bob, 1, app_server)
        before = {"alice": self_id(alice), "bob": self_id(bob)}

        app_server.kill()
        expect(alice.locator("#connection-banner")).to_contain_text("Reconnecting")
        expect(bob.locator("#connection-banner")).to_contain_text("Reconnecting")
        app_server.start()

        # Both rejoin as new peers (the restarted server remembers nothing) and call each other again.
        for page, name in ((alice, "alice"), (bob, "bob")):
            wait_for(
                lambda page=page, name=name: self_id(page) != before[name],
                what=f"{name} rejoined",
                last=lambda page=page: self_id(page),
            )
        for page, other in ((alice, bob), (bob, alice)):
            wait_for(
                lambda page=page, other=other: set(link_stats(page)) == {self_id(other)},
                what="a link to the rejoined peer only",
                last=lambda page=page: link_stats(page),
            )
            expect(page.locator(".tile")).to_have_count(2)
            expect(page.locator("#connection-banner")).to_be_hidden()
        assert_video_flowing(alice, 1, app_server)
        assert_video_flowing(bob, 1, app_server)
    finally:
        close(alice, bob)


def test_dropped_socket_resumes_without_rebuilding_the_call(browser, app_server):
    alice = enter(browser, app_server, "alice", "resume")
    bob = enter(browser, app_server, "bob", "resume")
    try:
        assert_video_flowing(alice, 1, app_server)
        before = self_id(alice)
        alice.evaluate("() => { for (const link of window.parley.links.values()) link.pc.kept = true; }")
        # The socket dies the way a network drop ends it: not a leave.
        alice.evaluate("() => window.parley.signal.socket.close(4000, 'network test')")
        alice.wait_for_function(
            "(id) => window.parley.signal.isOpen && window.parley.selfId === id && window.parley.resumedCount > 0",
            arg=before,
        )
        assert alice.evaluate("() => [...window.parley.links.values()].every((link) => link.pc.kept)") is True
        expect(bob.locator(".tile")).to_have_count(2)
        bob.fill("#chat-input", "still here?")
        bob.press("#chat-input", "Enter")
        expect(alice.locator("#chat-log .chat-text")).to_have_text("still here?")
        assert_video_flowing(alice, 1, app_server)
        assert_video_flowing(bob, 1, app_server)
    finally:
        close(alice, bob)


def test_reconnect_backoff_grows_with_jitter_up_to_a_cap(browser, app_server):
    page = open_room(browser, app_server, "dave", "resume")
    try:
        delays = page.evaluate(
            """async () => {
              const { backoffDelay } = await import("/static/js/signaling.js");
              return [...Array(12).keys()].map((attempt) => [...Array(40)].map(() => backoffDelay(attempt)));
            }"""
        )
    finally:
        close(page)
    for attempt, samples in enumerate(delays):
        ceiling = min(10000, 500 * 2**attempt)
        assert all(ceiling / 2 <= delay <= ceiling for delay in samples), (attempt, samples)
        assert len(set(samples)) > 1, "no jitter: every client would reconnect at the same instant"
    assert max(delays[-1]) <= 10000 and min(delays[3]) > max(delays[0])


def test_a_server_moving_the_socket_resumes_at_once_without_the_banner(browser, app_server):
    """Close 4012 (the server process is stopping, config.serve's drain): reconnect with no back-off
    and resume the same peer, the "Reconnecting" banner never shown for so short a gap."""
    page = enter(browser, app_server, "dave", "resume", camera=False, mic=False)
    try:
        before = self_id(page)
        page.evaluate(
            """() => {
              const banner = document.getElementById("connection-banner");
              window.bannerShown = false;
              new MutationObserver(() => { if (!banner.hidden) window.bannerShown = true; })
                .observe(banner, { attributes: true });
              window.movedAt = performance.now();
              // As the server's close reaches the client (a close the browser starts reports the
              // server's echo, 1000): the socket closed, then its close event with code 4012.
              const signal = window.parley.signal;
              const socket = signal.socket;
              socket.close(4000, "moving test");
              signal.onClose(socket, { code: 4012 });
            }"""
        )
        page.wait_for_function(
            "(id) => window.parley.signal.isOpen && window.parley.selfId === id && window.parley.resumedCount > 0",
            arg=before,
            timeout=5000,
        )
        resumed_ms = page.evaluate("() => performance.now() - window.movedAt")
        print(f"\nFIGURE browser 4012: resumed {resumed_ms:.0f} ms after the close")
        assert resumed_ms < 1000, resumed_ms
        assert page.evaluate("() => window.bannerShown") is False
    finally:
        close(page)
