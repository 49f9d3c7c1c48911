"""The call through a bad network and in the chat: who joined, links that open safely."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.call import close, enter, screenshot, wait_connected

DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def call(browser, app_server):
    """Alice, then Bob, in the room `network`: one call for the whole module."""
    alice = enter(browser, app_server, "alice", "network")
    alice.set_viewport_size(DESKTOP)
    bob = enter(browser, app_server, "bob", "network")
    wait_connected(alice, 1)
    wait_connected(bob, 1)
    yield alice, bob
    close(alice, bob)


def test_chat_says_who_joined_and_links_open_in_a_new_tab(call, app_server):
    alice, bob = call
    expect(alice.locator("#chat-log .chat-notice")).to_have_text(["Bob Builder joined the call."])
    address = f"{app_server.url}/healthz?from=chat&x=1"
    text = f"Status: {address}. Not a link: javascript:alert(1) <b>bold</b>"
    bob.fill("#chat-input", text)
    bob.press("#chat-input", "Enter")
    message = alice.locator("#chat-log .chat-message").last
    expect(message.locator(".chat-text")).to_have_text(text)
    link = message.locator("a")
    expect(link).to_have_count(1)
    expect(link).to_have_text(address)
    expect(link).to_have_attribute("href", address)
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(link).to_have_attribute("target", "_blank")
    expect(message.locator("b")).to_have_count(0)
    with alice.context.expect_page() as opened:
        link.click()
    tab = opened.value
    tab.wait_for_load_state()
    assert tab.url == address
    assert tab.evaluate("() => window.opener") is None
    tab.close()


CAMERA_SENDER = "[...window.parley.links.values()][0].transceivers.video.sender"
# Milliseconds until the signaling client's next reconnect attempt (by the backoff timer).
NEXT_ATTEMPT_JS = """(() => {
  const down = netLog.filter((entry) => 'down' in entry).at(-1);
  return down ? down.at + down.down - performance.now() : 0;
})()"""


def set_offline(page, offline: bool) -> None:
    """Take the page's network away (or give it back), as a lost Wi-Fi does.

    Playwright's offline mode holds the page's WebSocket traffic. Chromium fires `offline` and
    `online` itself, except in the loopback-only namespace of these tests, where it believes it has
    been offline from the start (navigator.onLine is false): there the test fires them.
    """
    page.context.set_offline(offline)
    if page.evaluate("() => window.startedOffline"):
        page.evaluate("(offline) => window.dispatchEvent(new Event(offline ? 'offline' : 'online'))", offline)


def message(page, text: str):
    return page.locator("#chat-log .chat-message", has=page.locator(".chat-text", has_text=text))


def test_offline_banner_pending_chat_and_reconnect_at_once(call):
    alice, bob = call
    alice.evaluate(
        """() => {
          window.startedOffline = !navigator.onLine;
          window.netLog = [];
          const signal = window.parley.signal;
          signal.addEventListener('down', (e) => netLog.push({down: e.detail.delay, at: performance.now()}));
          signal.addEventListener('frame', (e) => {
            if (e.detail.type === 'welcome') netLog.push({welcome: performance.now()});
          });
        }"""
    )
    set_offline(alice, True)
    banner = alice.locator("#connection-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("You are offline")
    alice.wait_for_function("() => !window.parley.signal.isOpen")

    # A message typed offline is in the log at once, pending; the input is free for the next one.
    alice.evaluate("() => { window.parley.outbox.limits.pending = 1000; }")
    alice.fill("#chat-input", "first, given up")
    alice.press("#chat-input", "Enter")
    expect(alice.locator("#chat-input")).to_have_value("")
    first = message(alice, "first, given up")
    expect(first).to_have_attribute("data-state", "pending")
    expect(first).to_contain_text("Waiting for the connection")
    # Waiting too long marks it failed, with a Retry button; it stays in the log.
    expect(first).to_have_attribute("data-state", "failed")
    expect(first).to_contain_text("Not sent.")
    expect(first.get_by_role("button", name="Retry")).to_be_visible()
    alice.evaluate("() => { window.parley.outbox.limits.pending = 30000; }")
    alice.fill("#chat-input", "second, while offline")
    alice.press("#chat-input", "Enter")
    second = message(alice, "second, while offline")
    expect(second).to_have_attribute("data-state", "pending")
    # Reconnect attempts fail while offline, each waiting longer: wait for one due in 1.5 s or more.
    alice.wait_for_function(f"() => {NEXT_ATTEMPT_JS} > 1500")
    expect(second).to_have_attribute("data-state", "pending")
    expect(banner).to_contain_text("You are offline")
    screenshot(alice, "reconnecting.png")
    alice.set_viewport_size(PHONE)
    expect(banner).to_be_visible()
    screenshot(alice, "reconnecting-phone.png")
    alice.set_viewport_size(DESKTOP)

    # Online: the socket comes back at once, before the backoff timer's attempt; the pending one goes out.
    online_at = alice.evaluate("() => performance.now()")
    set_offline(alice, False)
    expect(banner).to_be_hidden()
    log = alice.evaluate("() => netLog")
    due = max(entry["at"] + entry["down"] for entry in log if "down" in entry)
    welcome = next(entry["welcome"] for entry in log if "welcome" in entry and entry["welcome"] > online_at)
    assert welcome < due and welcome - online_at < 1000, (online_at, log)
    expect(second).to_have_attribute("data-state", "delivered")
    expect(message(bob, "second, while offline")).to_have_count(1)
    expect(first).to_have_attribute("data-state", "failed")
    expect(message(bob, "first, given up")).to_have_count(0)
    first.get_by_role("button", name="Retry").click()
    expect(first).to_have_attribute("data-state", "delivered")
    expect(message(bob, "first, given up")).to_have_count(1)
    expect(message(alice, "second, while offline")).to_have_count(1)
    expect(message(bob, "second, while offline")).to_have_count(1)


def test_quality_bars_with_details_and_a_stalled_video(call):
    alice, bob = call
    tile = alice.locator(".tile:not(.local)")
    button = tile.get_by_role("button", name=re.compile(r"^Connection quality: good\. Show details$"))
    # Each stats round (2 s) grades the link again: on a loaded machine the first rounds may say "fair".
    expect(button).to_be_visible(timeout=15_000)
    expect(button).to_have_attribute("data-level", "good")
    button.click()
    details = alice.get_by_role("dialog", name="Connection details")
    expect(details).to_be_visible()
    expect(button).to_have_attribute("aria-expanded", "true")
    # The first round has no previous sample to measure loss against; the popover follows each round.
    expect(details.locator("dd").nth(1)).to_have_text(re.compile(r"\d+(\.\d)? %"), timeout=10_000)
    figures = dict(zip(details.locator("dt").all_inner_texts(), details.locator("dd").all_inner_texts(), strict=True))
    assert re.fullmatch(r"\d+ ms", figures["Round trip"]), figures
    assert re.fullmatch(r"\d+(\.\d)? %", figures["Packet loss"]), figures
    assert re.fullmatch(r"\d+ ms", figures["Jitter"]), figures
    assert int(re.fullmatch(r"(\d+) kbit/s", figures["Receiving"])[1]) > 50, figures
    # What Alice's camera sends Bob: one link, the whole budget's rung (720p at most), its rate.
    sending = re.fullmatch(r"(\d+)p · (\d+) fps · (\d+) kbit/s", figures["Sending"])
    assert sending and 0 < int(sending[1]) <= 720 and int(sending[3]) > 50, figures
    assert figures["Path"] == "direct", figures
    alice.keyboard.press("Escape")
    expect(details).to_be_hidden()

    # Bob's camera stays on but his video stops reaching Alice (its element's clock still runs).
    stalled = tile.locator(".tile-stalled")
    expect(stalled).to_be_hidden()
    bob.evaluate(f"() => {CAMERA_SENDER}.replaceTrack(null)")
    expect(stalled).to_be_visible(timeout=6000)
    expect(stalled).to_have_text("Reconnecting…")
    expect(tile.locator(".tile-state")).to_have_text("Reconnecting")  # not "Connected" over a frozen picture
    expect(tile.locator(".tile-quality")).to_have_attribute("data-level", "poor")
    bob.evaluate(f"() => {CAMERA_SENDER}.replaceTrack(window.parley.media.cameraTrack)")
    expect(stalled).to_be_hidden()
    expect(tile.locator(".tile-state")).to_contain_text("Connected")
    expect(tile.locator(".tile-quality")).to_have_attribute("data-level", "good", timeout=15_000)
