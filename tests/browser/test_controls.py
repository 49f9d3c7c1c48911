"""The control bar as a person uses it: icons with labels, pressed states, device menus, shortcuts,
the chat badge, and the phone layout (bar in view at the bottom, slide-over panels, no site header)."""

import re

from playwright.sync_api import expect

from tests.browser.call import close, enter, wait_connected

DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
BUTTONS = ["#toggle-mic", "#toggle-camera", "#toggle-screen", "#toggle-chat", "#toggle-people", "#show-help", "#leave"]


def background(page, selector: str) -> str:
    return page.eval_on_selector(selector, "(node) => getComputedStyle(node).backgroundColor")


def in_viewport(page, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    size = page.viewport_size
    return (
        bool(box)
        and box["y"] >= 0
        and box["y"] + box["height"] <= size["height"]
        and box["x"] + box["width"] <= size["width"]
    )


def test_control_bar_shortcuts_menus_and_chat_badge(browser, app_server):
    alice = enter(browser, app_server, "alice", "pair")
    bob = enter(browser, app_server, "bob", "pair")
    try:
        alice.set_viewport_size(DESKTOP)
        wait_connected(alice, 1)
        for selector in BUTTONS:
            button = alice.locator(selector)
            expect(button.locator("svg.icon")).to_have_count(1)
            expect(button.locator(".control-label")).not_to_be_empty()
            assert in_viewport(alice, selector), selector
        unpressed = background(alice, "#toggle-mic")

        # M mutes (the other side sees it), V stops the camera; a pressed toggle is not the red of Leave.
        alice.locator("body").press("m")
        expect(alice.locator("#toggle-mic")).to_have_attribute("aria-pressed", "true")
        expect(alice.locator("#toggle-mic")).to_have_text("Unmute")
        expect(bob.locator(".tile:not(.local) .tile-muted")).to_be_visible()
        pressed = background(alice, "#toggle-mic")
        assert pressed not in (unpressed, background(alice, "#leave")), (pressed, unpressed)
        alice.locator("body").press("v")
        expect(alice.locator("#toggle-camera")).to_have_attribute("aria-pressed", "true")
        expect(bob.locator(".tile:not(.local) .tile-avatar")).to_be_visible()
        # Typing in the chat is not a shortcut.
        alice.fill("#chat-input", "mv")
        expect(alice.locator("#toggle-mic")).to_have_attribute("aria-pressed", "true")
        alice.fill("#chat-input", "")
        alice.locator("#chat-input").blur()
        alice.locator("body").press("m")
        alice.locator("body").press("v")
        expect(alice.locator("#toggle-mic")).to_have_attribute("aria-pressed", "false")
        expect(alice.locator("#toggle-camera")).to_have_attribute("aria-pressed", "false")

        # ? lists the shortcuts.
        alice.locator("body").press("Shift+?")
        help_dialog = alice.locator("#help-dialog")
        expect(help_dialog).to_be_visible()
        expect(help_dialog.locator("kbd")).to_have_text(["M", "V", "S", "C", "H", "?"])
        alice.keyboard.press("Escape")
        expect(help_dialog).to_be_hidden()

        # The microphone's menu: microphone and speaker output; the chosen speaker plays the call.
        alice.click("#mic-menu-button")
        expect(alice.locator("#mic-menu")).to_be_visible()
        expect(alice.locator("#mic-menu-button")).to_have_attribute("aria-expanded", "true")
        expect(alice.locator("#call-mic-select")).to_be_focused()
        speakers = alice.locator("#call-speaker-select option")
        expect(speakers).not_to_have_count(0)
        sink = speakers.last.get_attribute("value")
        alice.select_option("#call-speaker-select", sink)
        alice.wait_for_function("(id) => document.querySelector('.tile:not(.local) video').sinkId === id", arg=sink)
        alice.keyboard.press("Escape")
        expect(alice.locator("#mic-menu")).to_be_hidden()
        expect(alice.locator("#mic-menu-button")).to_be_focused()
        alice.click("#camera-menu-button")
        expect(alice.locator("#call-camera-select option")).to_have_count(3)
        alice.click("#tiles")
        expect(alice.locator("#camera-menu")).to_be_hidden()

        # C closes the chat; a message then shows as an unread count until the chat is opened.
        alice.locator("body").press("c")
        expect(alice.locator("#chat-panel")).to_be_hidden()
        expect(alice.locator("#toggle-chat")).to_have_attribute("aria-expanded", "false")
        bob.fill("#chat-input", "ping")
        bob.press("#chat-input", "Enter")
        expect(alice.locator("#chat-unread")).to_have_text("1")
        expect(alice.locator("#toggle-chat")).to_have_attribute("aria-label", "Chat, 1 unread")
        alice.click("#toggle-chat")
        expect(alice.locator("#chat-panel .chat-text")).to_have_text("ping")
        expect(alice.locator("#chat-unread")).to_be_hidden()

        # On a phone: no site header, the bar in view at the bottom, the chat as a slide-over.
        bob.set_viewport_size(PHONE)
        expect(bob.locator(".topbar")).to_be_hidden()
        expect(bob.locator("#chat-panel")).to_be_hidden()
        for selector in ("#toggle-mic", "#toggle-camera", "#toggle-chat", "#toggle-people", "#leave"):
            assert in_viewport(bob, selector), selector
        assert bob.locator("#leave").bounding_box()["y"] > PHONE["height"] - 100
        # The layout tools are icons on a phone: each fully in view, wide enough to tap, and named.
        for tool in bob.locator(".stage-tools button:visible").all():
            box = tool.bounding_box()
            assert box["width"] >= 36 and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
            expect(tool).to_have_accessible_name(re.compile(r"\w"))
        bob.click("#toggle-people")
        expect(bob.locator("#people-panel")).to_be_visible()
        bob.click("#toggle-chat")
        expect(bob.locator("#people-panel")).to_be_hidden()
        assert in_viewport(bob, "#chat-input") and in_viewport(bob, "#leave")
        bob.click("#chat-panel .panel-close")
        expect(bob.locator("#chat-panel")).to_be_hidden()
        # The site's links open beside the call; leaving the page asks first.
        assert alice.locator(".topbar a", has_text="Calls").get_attribute("target") == "_blank"
        asked = []
        bob.on("dialog", lambda dialog: (asked.append(dialog.type), dialog.dismiss()))
        bob.evaluate("() => { location.href = '/calls/'; }")
        for _ in range(100):  # events reach the handler while Playwright waits, not in time.sleep
            if asked:
                break
            bob.wait_for_timeout(50)
        assert asked == ["beforeunload"]
        expect(bob.locator("#incall")).to_be_visible()
    finally:
        close(alice, bob)
