"""Fixtures for the Chromium tests: the app server, the browser, signed-in pages.

The expensive parts (Playwright's driver, the loopback-only namespace, one Chromium, one daphne) start
once for the whole tests/browser package and stop after its last test, instead of once per module:
each module still gets `browser` and `app_server` fixtures of module scope, which close the browser
contexts a module left open and bring the server back if a module left it stopped. A module that needs
its own (test_relay.py: a server and a browser in coturn's namespace) overrides them by name."""

import contextlib
import shutil
import subprocess
from pathlib import Path

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


def chromium_args(fake_ui: str = "--use-fake-ui-for-media-stream", video: Path | None = None) -> list[str]:
    """`video`: a .y4m file every fake camera plays in a loop, instead of Chromium's cheap test pattern."""
    return [
        # Cameras to switch between; fake_device_1 is a Y16 depth camera that WebRTC cannot send.
        "--use-fake-device-for-media-stream=device-count=3",
        *([f"--use-file-for-fake-video-capture={video}"] if video else []),
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


def noisy_video(path: Path, *, size: str = "1280x720", fps: int = 30) -> Path:
    """One second of 720p test pattern with fresh noise in every frame: a camera picture that costs an
    encoder as much as a real one (Chromium's own fake pattern is ~200 kbit/s at any limit)."""
    if not path.exists():
        source = f"testsrc2=size={size}:rate={fps},noise=alls=24:allf=t"
        command = ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source, "-t", "1", "-pix_fmt", "yuv420p"]
        subprocess.run([*command, str(path)], check=True, timeout=60)
    return path


def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None


@pytest.fixture(scope="session")
def app_workdir():
    workdir = prepare_workdir()
    yield workdir
    remove_workdir(workdir)


@pytest.fixture(scope="package")
def playwright_instance():
    from playwright.sync_api import sync_playwright

    manager = sync_playwright().start()
    yield manager
    manager.stop()


@contextlib.contextmanager
def loopback_netns():
    """A loopback-only network namespace, or None where the machine allows none."""
    if not isolation_available():
        yield None
        return
    namespace = Netns()
    try:
        yield namespace
    finally:
        namespace.stop()


@pytest.fixture(scope="package")
def shared_netns(chromium_bin_module):
    """The namespace of the server and the browser (loopback_netns), for the whole package."""
    with loopback_netns() as namespace:
        yield namespace


@pytest.fixture(scope="module")
def netns(shared_netns):
    """The namespace `browser` and `app_server` run in (a module may override it with its own)."""
    return shared_netns


def browser_launch(playwright, chromium: str, netns: Netns | None, workdir, **kwargs):
    executable = netns.chromium_wrapper(chromium, workdir) if netns else chromium
    return playwright.chromium.launch(executable_path=executable, **kwargs)


@pytest.fixture(scope="package")
def shared_browser(playwright_instance, chromium_bin_module, shared_netns, app_workdir):
    browser = browser_launch(playwright_instance, chromium_bin_module, shared_netns, app_workdir, args=chromium_args())
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def browser(shared_browser):
    """The package's Chromium; whatever a module leaves open in it is closed when the module ends."""
    yield shared_browser
    for context in shared_browser.contexts:
        context.close()


@pytest.fixture
def denied_browser(playwright_instance, chromium_bin_module, netns, app_workdir):
    """A Chromium whose user refuses the camera and microphone prompt."""
    args = chromium_args(fake_ui="--use-fake-ui-for-media-stream=deny")
    denied = browser_launch(playwright_instance, chromium_bin_module, netns, app_workdir, args=args)
    yield denied
    denied.close()


@pytest.fixture(scope="package")
def chromium_bin_module(request):
    """The conftest `chromium_bin` check (skip locally, fail in CI), usable by module fixtures."""
    import os
    import shutil

    from tests.conftest import require

    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    require("BROWSER", path is not None, "Chromium is not installed")
    return path


@pytest.fixture(scope="package")
def shared_app_server(app_workdir, shared_netns):
    server = AppServer(app_workdir, netns=shared_netns)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def app_server(shared_app_server):
    """The package's server, running (test_reconnect.py kills and restarts it; a failure there may leave it stopped)."""
    if shared_app_server.process is None or shared_app_server.process.poll() is not None:
        shared_app_server.start()
    return shared_app_server
