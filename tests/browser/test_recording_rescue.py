"""A recording whose tab was closed mid-call is kept in the browser and offered back on the person's next page."""

import shutil
import time

import pytest
from playwright.sync_api import Page, expect

from tests.browser.call import (
    CALL_TIMEOUT,
    enter,
    join,
    kept_recordings,
    screenshot,
    switch_person,
    wait_connected,
    wait_for,
)
from tests.browser.test_features import ffprobe

DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
NOTICE = ".rescue[role=alert]"


def start_recording(page: Page) -> None:
    page.click("#toggle-record")
    expect(page.locator("#toggle-record")).to_have_attribute("aria-pressed", "true")


def close_tab(page: Page) -> None:
    page.close(run_before_unload=False)  # the tab is closed: no Stop, no "Leave the call?" prompt


def settle(page: Page) -> None:
    """Time for the page to look in IndexedDB (milliseconds after load) before checking it shows no notice."""
    page.wait_for_load_state("load")
    page.wait_for_timeout(1000)


def new_tab(page_of: Page, url: str) -> Page:
    page = page_of.context.new_page()
    page.set_default_timeout(CALL_TIMEOUT * 1000)
    page.set_viewport_size(DESKTOP)
    page.goto(url)
    return page


def test_a_recording_of_a_closed_tab_is_offered_back_saved_as_a_webm_or_discarded(browser, app_server, tmp_path):
    if shutil.which("ffprobe") is None:
        pytest.skip("ffprobe (ffmpeg) is not installed")
    alice = enter(browser, app_server, "alice", "rescue")
    bob = enter(browser, app_server, "bob", "rescue")
    try:
        wait_connected(alice, 1)
        start_recording(alice)
        time.sleep(3)
        close_tab(alice)
        # The others' indicator ends with the closed tab.
        expect(bob.locator("#recording-banner")).to_be_hidden()
        bob.context.close()

        # The next page of the same person (the same browser) offers it; Save it downloads it.
        room = new_tab(alice, f"{app_server.url}/rooms/rescue/")
        notice = room.locator(NOTICE)
        expect(notice).to_have_count(1)
        expect(notice).to_contain_text("A recording of Room Rescue from ")
        expect(notice).to_contain_text(" was not saved.")
        with room.expect_download(timeout=30_000) as saved:
            notice.get_by_role("button", name="Save it").click()
        download = saved.value
        assert download.suggested_filename.startswith("Room Rescue ") and download.suggested_filename.endswith(".webm")
        path = tmp_path / "rescued.webm"
        download.save_as(path)
        probe = ffprobe(path)
        assert "webm" in probe["format"]["format_name"]
        assert [(s["width"], s["height"]) for s in probe["streams"] if s["codec_type"] == "video"] == [(1280, 720)]
        # The duration the closed tab last kept (webm.js writes it): 3 s recorded, chunks of 1 s.
        assert 1.5 < float(probe["format"]["duration"]) < 4.5, probe["format"]
        expect(room.locator(".rescue[role=status]")).to_have_text("The recording is saved in your downloads.")
        # This browser now says it has 100 MB of storage left: about 5 minutes of recording.
        room.add_init_script("navigator.storage.estimate = async () => ({ quota: 300e6, usage: 200e6 });")
        room.reload()
        expect(room.locator("#join")).to_be_enabled(timeout=CALL_TIMEOUT * 1000)
        expect(room.locator(".rescue")).to_have_count(0)
        assert kept_recordings(room) == [0, 0]  # saved once, then forgotten

        # A second one, 2 s, left behind the same way.
        # A second one. While it records, another tab of Alice's is not offered it: it is live (its lock is held).
        join(room)
        start_recording(room)
        expect(room.locator("#chat-log")).to_contain_text(
            "This browser has room to keep only about 5 minutes of the recording if the tab closes."
        )
        wait_for(lambda: kept_recordings(room)[1] >= 2, timeout=10, what="two chunks kept")
        lobby = new_tab(alice, f"{app_server.url}/")
        settle(lobby)
        expect(lobby.locator(".rescue")).to_have_count(0)
        # Its tab is closed: the open tab offers it then and there.
        close_tab(room)
        notice = lobby.locator(NOTICE)
        expect(notice).to_have_count(1)
        assert kept_recordings(lobby)[1] >= 1
        screenshot(lobby, "recording-rescue.png")

        # Someone else signed in on this browser is not offered Alice's recording.
        switch_person(lobby, app_server, "bob")
        expect(lobby.locator(".whoami")).to_have_text("Bob Builder")
        settle(lobby)
        expect(lobby.locator(".rescue")).to_have_count(0)
        switch_person(lobby, app_server, "alice")
        expect(lobby.locator(".whoami")).to_have_text("Alice Liddell")
        expect(notice).to_have_count(1)

        # In Chinese, on a phone; Discard (from the keyboard) forgets it.
        lobby.select_option("select[name=language]", "zh-hans")
        expect(notice).to_contain_text("的录制未保存")
        lobby.set_viewport_size(PHONE)
        box = notice.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
        screenshot(lobby, "recording-rescue-phone.png")
        discard = notice.get_by_role("button", name="丢弃")
        discard.focus()
        lobby.keyboard.press("Enter")
        expect(lobby.locator(".rescue")).to_have_count(0)
        assert kept_recordings(lobby) == [0, 0]
    finally:
        for context in {alice.context, bob.context}:
            context.close()
