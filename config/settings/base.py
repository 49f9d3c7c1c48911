"""Settings shared by every environment, read from environment variables.

With nothing set, Parley runs on SQLite with the in-memory channel layer in one
process (the embedded default). Production sets DATABASE_URL, REDIS_URL, SECRET_KEY,
ALLOWED_HOSTS and the TURN_* variables (see .env.example).
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(str(BASE_DIR / ".env"))

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Where a WebSocket handshake may come from: None = any scheme and port of ALLOWED_HOSTS (development
# servers move ports); production lists whole origins (scheme, host and port), see production.py.
WEBSOCKET_ALLOWED_ORIGINS = None
# The WebSocket transport's message limit for runserver (daphne), as config.daphne_server and
# uvicorn's --ws-max-size set it for the servers: docs/protocol.md, Limits.
DAPHNE_WEBSOCKET_MAX_MESSAGE_SIZE = DAPHNE_WEBSOCKET_MAX_FRAME_SIZE = 128 * 1024

INSTALLED_APPS = [
    "calls",  # first: its runserver (daphne's, with Parley's WebSocket limits) wins over Django's
    "daphne",  # before staticfiles, whose runserver would otherwise win over daphne's
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "axes",
    "accounts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.middleware.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "config.middleware.PrivatePagesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.middleware.ContentSecurityPolicyMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = None
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.context_processors.parley",
            ],
        },
    }
]

# --- Database -------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# Persistent connections: reopening one per join made joins ~3x slower under load
# (docs/reliability.md); health checks drop a connection the server closed.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A database that takes the TCP connection but never answers must not hold Django's one
    # database thread (pages, audit writes) and so the process's shutdown, for ever.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Accounts ---------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "lobby"
LOGOUT_REDIRECT_URL = "login"
SIGNUP_ENABLED = env.bool("SIGNUP_ENABLED", default=True)
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses locked-out attempts
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Failed-login lockout: AXES_FAILURE_LIMIT failures for one username from one IP lock
# that pair out for the cool-off period (others can still sign in from elsewhere).
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_IPWARE_PROXY_COUNT = env.int("PROXY_COUNT", default=0) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]
AXES_VERBOSE = False

# --- Mail -------------------------------------------------------------------------
EMAIL_CONFIG = env.email("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Parley <noreply@localhost>")

# --- I18N ---------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "UTC"
USE_TZ = True

# --- Static files -----------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- Sessions and cookies ------------------------------------------------------------
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- Channels and signaling state ------------------------------------------------------
# REDIS_URL switches both the channel layer and the signaling room state to Redis, so
# that several server processes share rooms. Without it everything lives in process memory.
REDIS_URL = env("REDIS_URL", default="")
# Redis Sentinel (docs/deploy.md): with REDIS_SENTINELS (host:port,...) and REDIS_SENTINEL_MASTER
# set, every Redis client (signaling state, channel layer, session cache, presence) connects to
# the master the sentinels name and follows a failover; REDIS_URL then gives only the password
# and database (redis://:PASSWORD@ignored/0). REDIS_SENTINEL_PASSWORD if the sentinels want one.
REDIS_SENTINELS = env.list("REDIS_SENTINELS", default=[])
REDIS_SENTINEL_MASTER = env("REDIS_SENTINEL_MASTER", default="")
REDIS_SENTINEL_PASSWORD = env("REDIS_SENTINEL_PASSWORD", default="")
if REDIS_SENTINELS and not (REDIS_URL and REDIS_SENTINEL_MASTER):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("REDIS_SENTINELS needs REDIS_SENTINEL_MASTER and REDIS_URL (password and database).")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "config.channel_layers.ResilientRedisChannelLayer",
            "CONFIG": {
                # redis-py 8 sets socket_timeout=5 s, the same as the layer's blocking read:
                # idle consumers would crash (channels_redis#422). No socket timeout, a
                # keepalive instead, and a bounded pool that makes a join storm wait for a
                # connection instead of opening hundreds (config/channel_layers.py).
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": None,
                        "socket_connect_timeout": 5,
                        "socket_keepalive": True,
                        "health_check_interval": 30,
                        "max_connections": env.int("REDIS_MAX_CONNECTIONS", default=64),
                    }
                ],
                # Deployments sharing one Redis (different SIGNALING_KEY_PREFIX) keep their groups apart.
                "prefix": env("SIGNALING_KEY_PREFIX", default="parley") + ":layer",
                "capacity": 1000,
                "expiry": 60,
                "group_expiry": 86400,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# With Redis, sessions are read from it (cached_db: written to both, so a signed-out session
# is deleted from both): a socket's connect needs no session query (docs/performance.md).
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("SIGNALING_KEY_PREFIX", default="parley") + ":cache",
            "OPTIONS": {"pool_class": "calls.infra.redis.SharedConnectionPool"},
        }
    }
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

SIGNALING = {
    # "redis" or "memory"; follows REDIS_URL unless set.
    "BACKEND": env("SIGNALING_BACKEND", default="redis" if REDIS_URL else "memory"),
    "REDIS_URL": REDIS_URL,
    "KEY_PREFIX": env("SIGNALING_KEY_PREFIX", default="parley"),
    # Clients ping at this period (seconds); a socket silent for 2 periods is dropped,
    # and a crashed process's peers expire from Redis after PEER_TTL seconds.
    "HEARTBEAT": env.float("SIGNALING_HEARTBEAT", default=15.0),
    "PEER_TTL": env.float("SIGNALING_PEER_TTL", default=45.0),
    "MAX_FRAME_BYTES": env.int("SIGNALING_MAX_FRAME_BYTES", default=96 * 1024),
    "MAX_SDP_BYTES": 64 * 1024,
    "MAX_CANDIDATE_BYTES": 2 * 1024,
    "MAX_CHAT_CHARS": 2000,
    # Token bucket per connection: RATE frames/s sustained, BURST at once; WARNINGS
    # warnings before the socket is closed with 4429.
    "RATE": env.float("SIGNALING_RATE", default=50.0),
    "BURST": env.float("SIGNALING_BURST", default=200.0),
    "RATE_WARNINGS": env.int("SIGNALING_RATE_WARNINGS", default=3),
    "USER_RATE": env.float("SIGNALING_USER_RATE", default=150.0),
    "USER_BURST": env.float("SIGNALING_USER_BURST", default=600.0),
    "MAX_SOCKETS_PER_USER": env.int("SIGNALING_MAX_SOCKETS_PER_USER", default=4),
    "OUTBOX_LIMIT": env.int("SIGNALING_OUTBOX_LIMIT", default=2000),
    "RESUME_GRACE": env.float("SIGNALING_RESUME_GRACE", default=30.0),
    # Frames kept for a peer away within its grace, replayed when it resumes; later ones are dropped.
    "RESUME_BUFFER": env.int("SIGNALING_RESUME_BUFFER", default=256),
    "RING_TIMEOUT": env.float("SIGNALING_RING_TIMEOUT", default=30.0),
}
# The production server (config.serve) warms a process up before it listens (config.warmup):
# signaling node started, Redis and SQL connections open. false: everything is made on first use.
SERVER_WARM_UP = env.bool("SERVER_WARM_UP", default=True)
# On SIGTERM (config.serve) a process answers /readyz 503 for DRAIN_NOTICE seconds, so the proxy's
# health checks take it out, then moves its sockets to the other processes (close 4012) and exits
# once they are gone, or after DRAIN_TIMEOUT seconds in all (docs/deploy.md, "Rolling upgrade").
DRAIN_NOTICE = env.float("DRAIN_NOTICE", default=2.0)
DRAIN_TIMEOUT = env.float("DRAIN_TIMEOUT", default=10.0)

# --- TURN (coturn use-auth-secret, the TURN REST API scheme) ---------------------------
TURN_SECRET = env("TURN_SECRET", default="")
TURN_URLS = env.list("TURN_URLS", default=[])
STUN_URLS = env.list("STUN_URLS", default=[])
TURN_TTL = env.int("TURN_TTL", default=3600)
# Test-only: make browsers use relay candidates alone (never set in production).
ICE_TRANSPORT_POLICY = env("ICE_TRANSPORT_POLICY", default="all")
# Test-only: browsers send and accept only 127.0.0.1 ICE candidates (never set in production).
WEBRTC_LOOPBACK_ONLY = env.bool("WEBRTC_LOOPBACK_ONLY", default=False)
# The video each browser uploads in a call, in kbit/s, split over its links (docs/media.md).
VIDEO_BUDGET_KBPS = env.int("VIDEO_BUDGET_KBPS", default=2500)
VIDEO_BUDGET_PHONE_KBPS = env.int("VIDEO_BUDGET_PHONE_KBPS", default=1000)

# --- Metrics ------------------------------------------------------------------------------
# /metrics answers only `Authorization: Bearer <METRICS_TOKEN>`; unset, it is off (404) unless DEBUG.
METRICS_TOKEN = env("METRICS_TOKEN", default="")

# --- Logging -----------------------------------------------------------------------------
# LOG_FORMAT: "plain" lines for a terminal, or "json": one JSON object per line with the room,
# peer and user ids of the socket at hand (calls.infra.logs); production defaults to json.
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOG_FORMAT = env("LOG_FORMAT", default="plain")


def logging_config(*, log_format: str, level: str) -> dict:
    """The LOGGING dictConfig for `log_format` ("plain" or "json")."""
    if log_format not in ("plain", "json"):
        raise ValueError(f"LOG_FORMAT must be plain or json, not {log_format!r}")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
            "json": {
                "()": "calls.infra.logs.JsonFormatter",
                "fmt": ["levelname", "name", "message"],
                "rename_fields": {"levelname": "level", "name": "logger"},
                "timestamp": "time",
            },
        },
        "filters": {
            "outages": {"()": "calls.services.outages.ChannelLayerCleanupFilter"},
            "context": {"()": "calls.infra.logs.LogContextFilter"},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["context"]},
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.channels.server": {"level": "WARNING"},
            "daphne": {"level": "WARNING"},
            "axes": {"level": "WARNING"},
            "asyncio": {"filters": ["outages"]},
        },
    }


LOGGING = logging_config(log_format=LOG_FORMAT, level=LOG_LEVEL)
