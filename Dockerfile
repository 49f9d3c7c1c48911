# Parley web: Django + Channels served by uvicorn (HTTP and WebSocket) behind Caddy.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production

RUN apt-get update \
    && apt-get install -y --no-install-recommends gettext \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 --user-group parley

WORKDIR /app
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY --chown=parley:parley . .
# Translations are compiled at build time; the development settings need no secrets.
RUN DJANGO_SETTINGS_MODULE=config.settings.local python manage.py compilemessages --ignore=.venv >/dev/null 2>&1 || true \
    && chown -R parley:parley /app

USER parley
EXPOSE 8000

# Migrations and static files at start (they need the real settings and database), then
# config.serve runs uvicorn exactly as the benchmark measures it (uvloop, httptools, sans-I/O
# WebSockets, 128 KiB frame limit, listen backlog 2048, no access log, proxy headers trusted from
# FORWARDED_ALLOW_IPS only: docker-compose sets Caddy's address). See docs/performance.md.
# `exec` makes the server the container's main process, so `docker stop` reaches it: SIGTERM
# drains it (the calls resume on another web process, config/serve.py) before it exits.
STOPSIGNAL SIGTERM
CMD ["sh", "-c", "python manage.py migrate --noinput && python manage.py collectstatic --noinput -v 0 && exec python -m config.serve --host 0.0.0.0 --port 8000"]
