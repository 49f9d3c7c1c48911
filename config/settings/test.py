"""Tests: fast hashing, local mail outbox; database and Redis from the environment."""

from .base import *  # noqa: F403
from .base import DATABASES

DEBUG = False
SECRET_KEY = "test-only-key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
# Tests close connections at once, so that the test database can be dropped at the end.
DATABASES["default"]["CONN_MAX_AGE"] = 0
