"""`make run` as a newcomer meets it: migrate, demo users printed, runserver, sign in, lobby.

The server runs in its own process with the development settings and no environment
beyond a temporary SQLite DATABASE_URL, exactly the commands the Makefile's `run` target uses.
"""

import http.cookiejar
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.web import csrf_token_from

ROOT = Path(__file__).resolve().parent.parent


def manage(*args: str, env: dict, timeout: float = 300) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def wait_until_serving(url: str, server: subprocess.Popen, deadline: float = 120) -> None:
    give_up = time.monotonic() + deadline
    while time.monotonic() < give_up:
        assert server.poll() is None, "runserver exited early"
        try:
            urllib.request.urlopen(url, timeout=5)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"runserver did not answer {url} within {deadline}s")


@pytest.fixture
def dev_server(tmp_path, free_port):
    """Start the app as `make run` does, yield its base URL and printed demo credentials."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'make-run.sqlite3'}",
    }
    manage("migrate", "--noinput", env=env)
    printed = manage("demo_users", env=env)
    credentials = dict(re.findall(r"user\s+username: (\w+)\s+password: (\S+)", printed))
    assert "alice" in credentials, printed
    base = f"http://127.0.0.1:{free_port}"
    log = (tmp_path / "runserver.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{free_port}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # the autoreloader forks a child: stop both through this group
    )
    try:
        wait_until_serving(f"{base}/healthz", server)
        yield base, credentials
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=20)
        log.close()


def test_make_run_serves_the_lobby_to_a_demo_user(dev_server):
    base, credentials = dev_server
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    first = opener.open(f"{base}/", timeout=30)
    assert first.url.startswith(f"{base}/accounts/login/"), "the lobby sends strangers to sign in"
    login_page = first.read().decode()
    assert "Sign in" in login_page

    form = {"username": "alice", "password": credentials["alice"], "csrfmiddlewaretoken": csrf_token_from(login_page)}
    request = urllib.request.Request(
        f"{base}/accounts/login/",
        data=urllib.parse.urlencode(form).encode(),
        headers={"Referer": f"{base}/accounts/login/"},
    )
    lobby = opener.open(request, timeout=30)
    assert lobby.url == f"{base}/"
    body = lobby.read().decode()
    assert "Alice" in body and "Demo room" in body
    assert opener.open(f"{base}/rooms/demo/", timeout=30).status == 200


def test_make_run_uses_the_commands_this_test_replays():
    """Guard the replay above against drifting from the Makefile and the README."""
    plan = subprocess.run(["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert plan.returncode == 0, plan.stderr
    steps = [line for line in plan.stdout.splitlines() if "manage.py" in line]
    for command in ("manage.py migrate", "manage.py demo_users", "manage.py runserver 127.0.0.1:8000"):
        assert any(command in step for step in steps), f"`make run` no longer runs {command}"
    first_screen = (ROOT / "README.md").read_text().splitlines()[:12]
    assert any(line.startswith("make run") for line in first_screen)
    assert any(line.startswith("make test") for line in first_screen)


def test_development_defaults_need_no_services(tmp_path):
    """With no environment at all, `make run` gets SQLite, the in-memory layer and debug mode."""
    probe = (
        "import django, json; django.setup(); from django.conf import settings as s; print(json.dumps(["
        "s.DEBUG, s.DATABASES['default']['ENGINE'], s.CHANNEL_LAYERS['default']['BACKEND'], s.SIGNALING['BACKEND'],"
        "s.EMAIL_BACKEND]))"
    )
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings.local'); {probe}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    debug, engine, layer, signaling, mail = json.loads(done.stdout.strip().splitlines()[-1])
    assert debug is True
    assert engine == "django.db.backends.sqlite3"
    assert layer == "channels.layers.InMemoryChannelLayer"
    assert signaling == "memory"
    assert mail == "django.core.mail.backends.console.EmailBackend", "reset mail goes to the console in dev"
