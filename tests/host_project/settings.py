"""An existing Django project ("the host") with Relayman added as the README says. Tests only.

The lines marked "Relayman" are all that adding it took; the rest is an ordinary project.
"""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = os.environ.get("SECRET_KEY", "host-project-for-tests-only")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "tests.host_project.shop",
    "events",  # Relayman: POST /events, the admin's settings and keys, events.publish
    "sockets",  # Relayman: the Phoenix socket
]

MIDDLEWARE = [
    "events.errors.quiet_bad_hosts",  # Relayman: a bad Host is a JSON 400, logged once per run
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "tests.host_project.urls"
# Relayman: a CSRF failure on its routes is a JSON 403; the project's own pages keep Django's.
CSRF_FAILURE_VIEW = "events.errors.csrf_failure"
ASGI_APPLICATION = "tests.host_project.asgi.application"  # Relayman: served by an ASGI server

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": dj_database_url.config(default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# Not Relayman's BigAutoField: its apps pin their own, so this asks for no migration of theirs.
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

# Relayman: one process here; channels_redis's RedisPubSubChannelLayer for several.
CHANNEL_LAYERS = {"default": {"BACKEND": "events.layers.EmbeddedChannelLayer"}}
# Relayman: sources under /shop/accounts/ are for signed-in users, as the authorizer decides.
RELAYMAN_PRIVATE_SOURCES = ["/shop/accounts/"]
RELAYMAN_JOIN_AUTHORIZER = "tests.host_project.shop.authorizers.signed_in_owner"

USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "static/"
