# Parley web: Django + Channels served by daphne (HTTP and WebSocket) behind Caddy.
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
# daphne serves ASGI; --proxy-headers takes the client address from Caddy's X-Forwarded-For; a listen
# backlog of 2048 (Twisted's default is 50) keeps a join storm from resetting handshakes.
CMD ["sh", "-c", "python manage.py migrate --noinput && python manage.py collectstatic --noinput -v 0 && exec daphne -e tcp:port=8000:interface=0.0.0.0:backlog=2048 --websocket_connect_timeout 30 --proxy-headers config.asgi:application"]
