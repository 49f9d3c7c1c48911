"""Tests: fast hashing, local mail outbox; database and Redis from the environment."""

from .base import *  # noqa: F403
from .base import SIGNALING, env

DEBUG = False
SECRET_KEY = "test-only-key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
SIGNALING["HEARTBEAT"] = env.float("SIGNALING_HEARTBEAT", default=15.0)
