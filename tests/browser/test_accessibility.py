"""Automated accessibility check (axe-core) of the lobby, pre-join and call pages: no serious or critical violations."""

from axe_playwright_python.sync_playwright import Axe

from tests.browser.call import close, join, open_room, sign_in

SERIOUS = {"serious", "critical"}


def serious_violations(page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:5]}"
        for v in results.response["violations"]
        if v["impact"] in SERIOUS
    ]


def test_lobby_prejoin_and_call_pages_pass_axe(browser, app_server):
    lobby = sign_in(browser, app_server, "alice", "/")
    try:
        assert serious_violations(lobby) == []
    finally:
        close(lobby)
    page = open_room(browser, app_server, "bob", "axe")
    try:
        page.wait_for_function("() => document.getElementById('preview').videoWidth > 0")
        assert serious_violations(page) == []
        join(page)
        assert serious_violations(page) == []
    finally:
        close(page)
