"""Production settings: `check --deploy` is clean, unsafe configuration is refused, cookies are strict.

Each case runs in a fresh process with only the variables an operator would set, because
settings are read once at start-up.
"""

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent

SESSION_COOKIE_PROBE = """
import django, json
django.setup()
from django.core.management import call_command
from django.test import Client
from accounts.models import User
call_command("migrate", verbosity=0)
User.objects.create_user(username="ops", password="a-long-Passphrase-77")
client = Client(HTTP_X_FORWARDED_PROTO="https", HTTP_HOST="parley.example.com")
page = client.get("/accounts/login/")
token = page.cookies["csrftoken"]
response = client.post("/accounts/login/", {
    "username": "ops", "password": "a-long-Passphrase-77", "csrfmiddlewaretoken": token.value,
}, HTTP_REFERER="https://parley.example.com/accounts/login/")
session = response.cookies["sessionid"]
print(json.dumps({
    "status": response.status_code,
    "session": {"secure": session["secure"], "samesite": session["samesite"], "httponly": session["httponly"]},
    "csrf": {"secure": token["secure"], "samesite": token["samesite"]},
    "hsts": response.headers.get("Strict-Transport-Security", ""),
    "plain_http": Client(HTTP_HOST="parley.example.com").get("/accounts/login/").status_code,
    "plain_http_location": Client(HTTP_HOST="parley.example.com").get("/accounts/login/").headers.get("Location", ""),
    "healthz_plain_http": Client(HTTP_HOST="parley.example.com").get("/healthz").status_code,
    "readyz_plain_http": Client(HTTP_HOST="parley.example.com").get("/readyz").status_code,
    "unknown_host": Client(HTTP_HOST="evil.example.net").get("/healthz").status_code,
}))
"""


def production_env(tmp_path, **overrides: str) -> dict:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "parley.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}",
    }
    env.update(overrides)
    return {name: value for name, value in env.items() if value is not None}


def run(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)


def manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    return run([sys.executable, "manage.py", *args], env)


def test_check_deploy_passes_without_warnings(tmp_path):
    done = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout
    assert "WARNING" not in done.stderr


def test_check_deploy_would_catch_an_insecure_setting(tmp_path):
    """The same check fails when HSTS is switched off, so the test above can fail."""
    done = manage(production_env(tmp_path, SECURE_HSTS_SECONDS="0"), "check", "--deploy", "--fail-level", "WARNING")
    assert done.returncode != 0
    assert "security.W004" in done.stderr + done.stdout


def test_production_refuses_wildcard_hosts(tmp_path):
    for hosts in ("*", "parley.example.com,*"):
        done = manage(production_env(tmp_path, ALLOWED_HOSTS=hosts), "check")
        assert done.returncode != 0
        assert "'*' is refused" in done.stderr


def test_production_needs_hosts_and_a_strong_secret_key(tmp_path):
    no_hosts = manage(production_env(tmp_path, ALLOWED_HOSTS=None), "check")
    assert no_hosts.returncode != 0 and "ALLOWED_HOSTS" in no_hosts.stderr
    for key in (None, "", "short-key", "a" * 60):
        done = manage(production_env(tmp_path, SECRET_KEY=key), "check")
        assert done.returncode != 0, f"SECRET_KEY={key!r} was accepted"
        assert "SECRET_KEY" in done.stderr


def test_production_cookies_are_secure_and_same_site_lax(tmp_path):
    env = production_env(tmp_path, STATIC_ROOT=str(tmp_path / "static"))
    collected = manage(env, "collectstatic", "--noinput")
    assert collected.returncode == 0, collected.stderr
    done = run([sys.executable, "-c", SESSION_COOKIE_PROBE], env)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["status"] == 302, "signed in over (proxied) HTTPS"
    assert seen["session"] == {"secure": True, "samesite": "Lax", "httponly": True}
    assert seen["csrf"] == {"secure": True, "samesite": "Lax"}
    assert "max-age=31536000" in seen["hsts"]
    assert seen["plain_http"] == 301 and seen["plain_http_location"].startswith("https://")
    assert seen["healthz_plain_http"] == 200, "the container healthcheck speaks plain HTTP"
    assert seen["readyz_plain_http"] == 200, "the readiness check speaks plain HTTP (database up, no Redis set)"
    assert seen["unknown_host"] == 400


def test_demo_users_refuses_in_production(tmp_path):
    done = manage(production_env(tmp_path), "demo_users")
    assert done.returncode != 0
    assert "--force" in done.stderr
    assert "parley-alice" not in done.stdout


def test_the_container_start_command_serves_production(tmp_path, free_port):
    """Run the Dockerfile's CMD (migrate, collectstatic, the server) and compose's web healthcheck, on loopback."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    start = json.loads(re.search(r"^CMD (\[.+\])$", dockerfile, re.MULTILINE).group(1))
    script = start[-1].replace("0.0.0.0", "127.0.0.1").replace("--port 8000", f"--port {free_port}")
    assert str(free_port) in script, "the start command no longer names port 8000"
    script = script.replace("python ", f"{sys.executable} ")
    env = production_env(tmp_path, STATIC_ROOT=str(tmp_path / "static"), PARLEY_DOMAIN="parley.example.com")
    log = (tmp_path / "web.log").open("w")
    server = subprocess.Popen(
        ["sh", "-c", script], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    healthcheck = compose["services"]["web"]["healthcheck"]["test"][1:]
    healthcheck = [part.replace(":8000/", f":{free_port}/") for part in healthcheck]
    healthcheck[0] = sys.executable
    try:
        deadline = time.monotonic() + 120
        while run(healthcheck, env).returncode != 0:
            assert server.poll() is None, (tmp_path / "web.log").read_text()
            assert time.monotonic() < deadline, "the web healthcheck never passed"
            time.sleep(0.5)
        base = f"http://127.0.0.1:{free_port}"
        behind_caddy = {"Host": "parley.example.com", "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
        page = urllib.request.urlopen(
            urllib.request.Request(f"{base}/accounts/login/", headers=behind_caddy), timeout=30
        )
        html = page.read().decode()
        assert page.status == 200 and "Sign in" in html
        stylesheet = re.search(r'href="(/static/css/parley\.[0-9a-f]+\.css)"', html)
        assert stylesheet, "static files are collected with hashed names"
        css = urllib.request.urlopen(
            urllib.request.Request(base + stylesheet.group(1), headers=behind_caddy), timeout=30
        )
        assert css.status == 200 and "immutable" in css.headers.get("Cache-Control", "")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(
                urllib.request.Request(f"{base}/accounts/login/", headers={"Host": "evil.example.net"})
            )
        assert refused.value.code == 400
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()
