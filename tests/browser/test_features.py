"""Recording a call in the browser (everyone told), raised hands, reactions and the chat a late joiner sees."""

import json
import shutil
import subprocess
import time

import pytest
from playwright.sync_api import expect

from tests.browser.call import close, enter, kept_recordings, screenshot, wait_connected, wait_for

DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
RECORD_SECONDS = 5


def ffprobe(path) -> dict:
    command = ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)]
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True, timeout=60).stdout)


def packet_times(path, stream: str) -> list[float]:
    command = ["ffprobe", "-v", "error", "-select_streams", stream]
    command += ["-show_entries", "packet=pts_time", "-of", "csv=p=0"]
    out = subprocess.run([*command, str(path)], check=True, capture_output=True, text=True, timeout=60).stdout
    return [float(line.strip(", ")) for line in out.splitlines() if line.strip(", ")]


def peer_id(page) -> str:
    return page.evaluate("() => window.parley.selfId")


def test_recording_a_three_person_call_saves_a_webm_and_everyone_sees_it(browser, app_server, tmp_path):
    if shutil.which("ffprobe") is None:
        pytest.skip("ffprobe (ffmpeg) is not installed")
    alice = enter(browser, app_server, "alice", "record")
    bob = enter(browser, app_server, "bob", "record")
    carol = enter(browser, app_server, "carol", "record")
    try:
        for page in (alice, bob, carol):
            page.set_viewport_size(DESKTOP)
        wait_connected(alice, 2)
        expect(alice.locator("#toggle-record")).to_be_visible()
        expect(bob.locator("#toggle-record")).to_be_hidden()  # not the owner: no Record button

        # 5 s of the call, nothing else done meanwhile.
        with alice.expect_download(timeout=60_000) as saved:
            alice.click("#toggle-record")
            # Pressed once the room has been told and the file has started.
            expect(alice.locator("#toggle-record")).to_have_attribute("aria-pressed", "true")
            # Kept in the browser as it is made, a chunk a second, in case the tab closes (looked at
            # within the 5 s, so that the look does not delay Stop).
            stop_at = time.monotonic() + RECORD_SECONDS
            time.sleep(RECORD_SECONDS - 2)
            assert kept_recordings(alice)[1] >= 1
            time.sleep(max(0.0, stop_at - time.monotonic()))
            alice.click("#toggle-record")
        download = saved.value
        # Saved: the browser's copy is forgotten.
        kept = lambda: kept_recordings(alice)  # noqa: E731
        wait_for(lambda: kept() == [0, 0], timeout=10, what="the kept copy deleted", last=kept)
        for page in (bob, carol):
            expect(page.locator("#chat-log")).to_contain_text("Alice Liddell started recording.")
            expect(page.locator("#chat-log")).to_contain_text("Alice Liddell stopped recording.")
            expect(page.locator("#recording-banner")).to_be_hidden()
        assert download.suggested_filename.startswith("Room Record ") and download.suggested_filename.endswith(".webm")
        path = tmp_path / "call.webm"
        download.save_as(path)

        probe = ffprobe(path)
        assert "webm" in probe["format"]["format_name"]
        video = [s for s in probe["streams"] if s["codec_type"] == "video"]
        audio = [s for s in probe["streams"] if s["codec_type"] == "audio"]
        assert [(s["width"], s["height"]) for s in video] == [(1280, 720)]
        assert len(audio) == 1 and audio[0]["codec_name"] == "opus"
        # The duration in the header (MediaRecorder writes none: static/js/webm.js adds it), which the
        # sound really spans; the picture has frames from the start (how many depends on the CPU). A
        # page as busy as three calls on two shared cores gets the Stop click up to ~2 s late.
        seconds = float(probe["format"]["duration"])
        assert RECORD_SECONDS - 0.5 <= seconds <= RECORD_SECONDS + 2.5, seconds
        sound = packet_times(path, "a:0")
        assert abs((max(sound) - min(sound)) - seconds) < 0.6, (min(sound), max(sound), seconds)
        picture = packet_times(path, "v:0")
        assert len(picture) >= 10 and min(picture) < 0.5, picture

        # Everyone sees who records, from start to stop; a recorder who leaves ends it (and keeps the file).
        with alice.expect_download(timeout=60_000):
            alice.click("#toggle-record")
            for page in (bob, carol):
                expect(page.locator("#recording-banner")).to_be_visible()
                expect(page.locator("#recording-text")).to_have_text("Recording: Alice Liddell")
            expect(alice.locator("#recording-text")).to_contain_text("you are recording")
            screenshot(bob, "recording-indicator.png")
            carol.set_viewport_size(PHONE)
            banner = carol.locator("#recording-banner").bounding_box()
            assert banner and banner["x"] + banner["width"] <= PHONE["width"] and banner["y"] >= 0, banner
            screenshot(carol, "recording-phone.png")
            alice.click("#leave")
        for page in (bob, carol):
            expect(page.locator("#recording-banner")).to_be_hidden()
    finally:
        close(alice, bob, carol)


def test_a_raised_hand_shows_on_the_tile_and_in_the_people_list_and_late_joiners_see_the_chat(browser, app_server):
    alice = enter(browser, app_server, "alice", "hands")
    bob = enter(browser, app_server, "bob", "hands")
    carol = None
    try:
        alice.set_viewport_size(DESKTOP)
        wait_connected(alice, 1)
        alice.fill("#chat-input", "Agenda: https://example.com/plan")
        alice.press("#chat-input", "Enter")
        expect(bob.locator("#chat-log")).to_contain_text("Agenda:")

        bob.locator("body").press("h")
        expect(bob.locator("#toggle-hand")).to_have_attribute("aria-pressed", "true")
        bob_id = peer_id(bob)
        hand = alice.locator(f'.tile[data-peer-id="{bob_id}"] .tile-hand')
        expect(hand).to_be_visible()
        expect(hand).to_contain_text("1")
        first = alice.locator("#participants .participant").first
        expect(first).to_have_attribute("data-peer-id", bob_id)
        expect(first.locator(".participant-hand")).to_be_visible()
        expect(alice.locator("#chat-log")).to_contain_text("Bob Builder raised their hand.")

        screenshot(alice, "hand-raised.png")

        # A reaction floats over the sender's tile.
        bob.click("#react-button")
        bob.get_by_role("button", name="Applause").click()
        expect(alice.locator(f'.tile[data-peer-id="{bob_id}"] .reaction-float')).to_have_text("👏")

        # A late joiner gets the earlier chat and the raised hand.
        carol = enter(browser, app_server, "carol", "hands")
        carol.set_viewport_size(PHONE)
        expect(carol.locator("#toggle-people")).to_be_visible()
        carol.click("#toggle-chat")
        expect(carol.locator("#chat-log .chat-message.earlier")).to_contain_text("Agenda:")
        expect(carol.locator("#chat-log .chat-message.earlier a")).to_have_attribute("href", "https://example.com/plan")
        expect(carol.locator(f'.tile[data-peer-id="{bob_id}"] .tile-hand')).to_be_visible()
        for selector in ("#toggle-hand", "#react-button", "#leave"):
            box = carol.locator(selector).bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (selector, box)
            assert box["y"] + box["height"] <= PHONE["height"], (selector, box)

        # The owner lowers it from the people list.
        alice.get_by_role("button", name="Lower the hand of Bob Builder").click()
        expect(bob.locator("#toggle-hand")).to_have_attribute("aria-pressed", "false")
        expect(hand).to_be_hidden()
        expect(bob.locator("#chat-log")).to_contain_text("Alice Liddell lowered your hand.")
    finally:
        close(*(page for page in (alice, bob, carol) if page is not None))
