"""Endpoints for the machines around a web process, answered before Django's middleware.

- `/metrics`: this process's Prometheus metrics, only with `Authorization: Bearer <METRICS_TOKEN>`.
  Without METRICS_TOKEN it does not exist (404) unless DEBUG is on. The shipped Caddyfile
  answers /metrics with 404 itself, so the internet never reaches it, token or not.
- `/readyz` (and `/healthz`): the same answers as Django's views, whatever the Host header.

Prometheus and Caddy's active health checks reach each process by its address (a container's
name or IP), which no ALLOWED_HOSTS lists; Django would answer them 400.
"""

import hmac

import orjson
from asgiref.sync import sync_to_async
from django.conf import settings

from calls.services.metrics import metrics_exposition
from calls.views import readiness_report

METRICS_CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"


def metrics_authorized(headers: list[tuple[bytes, bytes]]) -> int:
    """200 if the request may read the metrics, 404 if they are off, 401 without the token."""
    token = settings.METRICS_TOKEN
    if not token:
        return 200 if settings.DEBUG else 404
    expected = b"Bearer " + token.encode()
    given = next((value for name, value in headers if name.lower() == b"authorization"), b"")
    return 200 if hmac.compare_digest(given, expected) else 401


async def _metrics(scope) -> tuple[int, list, bytes]:
    status = metrics_authorized(scope.get("headers", []))
    headers = [(b"content-type", METRICS_CONTENT_TYPE)]
    if status == 401:
        return status, [*headers, (b"www-authenticate", b'Bearer realm="metrics"')], b"Unauthorized\n"
    if status == 404:
        return status, headers, b"Not Found\n"
    return status, headers, metrics_exposition()


async def _readyz(scope) -> tuple[int, list, bytes]:
    status, body = await sync_to_async(readiness_report)()
    return status, [(b"content-type", b"application/json")], orjson.dumps(body)


async def _healthz(scope) -> tuple[int, list, bytes]:
    return 200, [(b"content-type", b"text/plain")], b"ok"


ENDPOINTS = {"/metrics": _metrics, "/readyz": _readyz, "/healthz": _healthz}


def internal_endpoints(app):
    """Wrap the HTTP application: the ENDPOINTS are answered here (GET and HEAD), the rest by `app`."""

    async def route(scope, receive, send) -> None:
        endpoint = ENDPOINTS.get(scope["path"]) if scope["type"] == "http" else None
        if endpoint is None or scope["method"] not in ("GET", "HEAD"):
            await app(scope, receive, send)
            return
        status, headers, body = await endpoint(scope)
        headers.append((b"cache-control", b"no-store"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})

    return route
