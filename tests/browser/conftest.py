"""Fixtures for the Chromium tests: the app server, one browser per module, signed-in pages."""

import pytest

from tests.browser.server import AppServer, Netns, isolation_available, prepare_workdir, remove_workdir

# Playwright passes its own --disable-features list and Chromium honours only the last switch,
# so ours repeats Playwright's list (playwright 1.65, chromiumSwitches.ts) with our additions:
# mDNS would hide the 127.0.0.1 host candidates behind random *.local names.
PLAYWRIGHT_DISABLED_FEATURES = [
    "AvoidUnnecessaryBeforeUnloadCheckSync",
    "DestroyProfileOnBrowserClose",
    "HttpsUpgrades",
    "HttpsFirstBalancedModeAutoEnable",
    "LensOverlay",
    "MediaRouter",
    "PaintHolding",
    "ThirdPartyStoragePartitioning",
    "AvoidCorsURLLoaderRestartOnRedirect",
    "TcpPortRandomizationWin",
    "OptimizationHints",
    "NetworkTimeServiceQuerying",
    "AimEnabled",
    "PreconnectToSearch",
]
EXTRA_DISABLED_FEATURES = ["WebRtcHideLocalIpsWithMdns"]


def chromium_args(fake_ui: str = "--use-fake-ui-for-media-stream") -> list[str]:
    return [
        # Cameras to switch between; fake_device_1 is a Y16 depth camera that WebRTC cannot send.
        "--use-fake-device-for-media-stream=device-count=3",
        fake_ui,
        "--allow-loopback-in-peer-connection",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--autoplay-policy=no-user-gesture-required",
        "--disable-features=" + ",".join(PLAYWRIGHT_DISABLED_FEATURES + EXTRA_DISABLED_FEATURES),
    ]


@pytest.fixture(scope="session")
def app_workdir():
    workdir = prepare_workdir()
    yield workdir
    remove_workdir(workdir)


@pytest.fixture(scope="module")
def playwright_instance():
    from playwright.sync_api import sync_playwright

    manager = sync_playwright().start()
    yield manager
    manager.stop()


@pytest.fixture(scope="module")
def netns(chromium_bin_module):
    """A loopback-only network namespace for the server and the browser, where the machine allows one."""
    if not isolation_available():
        yield None
        return
    namespace = Netns()
    yield namespace
    namespace.stop()


def browser_launch(playwright, chromium: str, netns: Netns | None, workdir, **kwargs):
    executable = netns.chromium_wrapper(chromium, workdir) if netns else chromium
    return playwright.chromium.launch(executable_path=executable, **kwargs)


@pytest.fixture(scope="module")
def browser(playwright_instance, chromium_bin_module, netns, app_workdir):
    browser = browser_launch(playwright_instance, chromium_bin_module, netns, app_workdir, args=chromium_args())
    yield browser
    browser.close()


@pytest.fixture
def denied_browser(playwright_instance, chromium_bin_module, netns, app_workdir):
    """A Chromium whose user refuses the camera and microphone prompt."""
    args = chromium_args(fake_ui="--use-fake-ui-for-media-stream=deny")
    denied = browser_launch(playwright_instance, chromium_bin_module, netns, app_workdir, args=args)
    yield denied
    denied.close()


@pytest.fixture(scope="module")
def chromium_bin_module(request):
    """The conftest `chromium_bin` check (skip locally, fail in CI), usable by module fixtures."""
    import os
    import shutil

    from tests.conftest import require

    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    require("BROWSER", path is not None, "Chromium is not installed")
    return path


@pytest.fixture(scope="module")
def app_server(app_workdir, netns):
    server = AppServer(app_workdir, netns=netns)
    server.start()
    yield server
    server.stop()
