"""Settings for the Weaver studio, read from the environment (see README, "Configuration").

Defaults give a single machine that needs nothing installed: a SQLite file and an embedded
on-disk broker under ``WEAVER_DATA_DIR``. ``WEAVER_PRODUCTION=1`` turns on the settings that
``manage.py check --deploy`` asks for.
"""

import os
import secrets
from pathlib import Path

import environ
from django.utils.translation import gettext_lazy as _

from weaver_site.infra import filesystem_broker_options

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DATA_DIR = Path(env.str("WEAVER_DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

PRODUCTION = env.bool("WEAVER_PRODUCTION", default=False)
DEBUG = env.bool("DEBUG", default=False)


def _secret_key() -> str:
    """SECRET_KEY from the environment, else from a git-ignored file made on first run."""
    key = env.str("SECRET_KEY", default="")
    if key:
        return key
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(64))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "weaver_site.apps.WeaverAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "weaver_site.apps.WeaverSiteConfig",
    "weaver_site.llm",
    "principles",
    "pairs",
    "training",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "weaver_site.urls"
WSGI_APPLICATION = "weaver_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "weaver_site.roles.roles_context",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'weaver.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server and the workers read while one of them writes; IMMEDIATE
    # transactions take the write lock up front so concurrent writers wait instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    # A file, not memory, so that worker processes started by tests see the test database;
    # one per test run, so that two runs on one checkout do not share it.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-{os.getpid()}.sqlite3")}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = ["weaver_site.roles.RoleBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="en")
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
WHITENOISE_USE_FINDERS = not PRODUCTION
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "whitenoise.storage.CompressedStaticFilesStorage"
        )
    },
}
MEDIA_ROOT = DATA_DIR / "media"

# --- Security -------------------------------------------------------------------------------
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
if PRODUCTION:
    DEBUG = False
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["weaver_site.roles.HasAnyRole"],
    "DEFAULT_PAGINATION_CLASS": "weaver_site.drf.Pagination",
    "EXCEPTION_HANDLER": "weaver_site.drf.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Weaver studio API",
    "DESCRIPTION": "Principles, taxonomy and (later) corpus, pairs, datasets and training runs.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["weaver_site.roles.HasAnyRole"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"LanguageEnum": "principles.models.Language"},
}

# --- Celery ---------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
BROKER_DIR = Path(env.str("WEAVER_BROKER_DIR", default=str(DATA_DIR / "broker")))
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Longer than the longest training run, so a slow task is not handed out twice.
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=7 * 24 * 3600),
    }
else:
    CELERY_BROKER_URL = "filesystem://localhost//"
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(BROKER_DIR)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "llm.*": {"queue": "llm"},
    "gpu.*": {"queue": "gpu"},
}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
WEAVER_QUEUES = ("default", "llm", "gpu")
WEAVER_HEARTBEAT_SECONDS = env.int("WEAVER_HEARTBEAT_SECONDS", default=10)

# --- Logging --------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("WEAVER_LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # One line per HTTP request at INFO would drown the workers' logs.
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "openai": {"level": "WARNING"},
    },
}

# --- Studio ---------------------------------------------------------------------------------
# Key for API keys stored in the database; defaults to one derived from SECRET_KEY.
WEAVER_ENCRYPTION_KEY = env.str("WEAVER_ENCRYPTION_KEY", default="")
WEAVER_IMPORT_MAX_BYTES = env.int("WEAVER_IMPORT_MAX_BYTES", default=10 * 1024 * 1024)
# Corpus uploads stream to disk, so they may be far larger than a request body in memory.
WEAVER_CORPUS_UPLOAD_MAX_BYTES = env.int("WEAVER_CORPUS_UPLOAD_MAX_BYTES", default=2 * 1024**3)
WEAVER_CORPUS_TEXT_MAX_CHARS = env.int("WEAVER_CORPUS_TEXT_MAX_CHARS", default=200_000)
# Review: a principle whose reviewed negatives are rejected at this rate or more (over at
# least this many decided pairs) is flagged on its author's dashboard.
WEAVER_REVIEW_FLAG_RATE = env.float("WEAVER_REVIEW_FLAG_RATE", default=0.3)
WEAVER_REVIEW_FLAG_MIN_PAIRS = env.int("WEAVER_REVIEW_FLAG_MIN_PAIRS", default=5)
# A new review queue over more pairs than this is filled by a worker, not in the request.
WEAVER_REVIEW_SYNC_FILL_MAX = env.int("WEAVER_REVIEW_SYNC_FILL_MAX", default=50_000)
# Datasets: a snapshot of more pairs than this is frozen by a worker, not in the request.
WEAVER_DATASET_SYNC_FREEZE_MAX = env.int("WEAVER_DATASET_SYNC_FREEZE_MAX", default=20_000)
# Where exports are written (one folder per export).
WEAVER_EXPORT_DIR = Path(env.str("WEAVER_EXPORT_DIR", default=str(DATA_DIR / "exports")))
# Pushing exports to the Hugging Face Hub: a write token (never shown or logged) and the Hub's
# address (for a self-hosted or mirror Hub).
WEAVER_HF_TOKEN = env.str("WEAVER_HF_TOKEN", default="") or env.str("HF_TOKEN", default="")
WEAVER_HF_ENDPOINT = env.str("WEAVER_HF_ENDPOINT", default="")
# Training: each run's folder (data, config, events, log, checkpoints, final model). With GPU
# workers on other machines this must be storage they and the web servers share.
WEAVER_TRAINING_DIR = Path(env.str("WEAVER_TRAINING_DIR", default=str(DATA_DIR / "runs")))
# A worker holds a run's lease while it trains, renewing it every few seconds; a run whose
# lease ran out (its worker died) is queued again and resumes from its last checkpoint.
WEAVER_TRAINING_LEASE_SECONDS = env.int("WEAVER_TRAINING_LEASE_SECONDS", default=120)
# A run whose worker is lost this many times (attempts) fails instead of being queued again.
WEAVER_TRAINING_MAX_ATTEMPTS = env.int("WEAVER_TRAINING_MAX_ATTEMPTS", default=10)
# How long a cancelled (or handed back) run may take to save its checkpoint and exit before its
# processes are killed.
WEAVER_TRAINING_STOP_GRACE_SECONDS = env.int("WEAVER_TRAINING_STOP_GRACE_SECONDS", default=300)
# How often the worker reads the engine's events and output, and checks for a cancel.
WEAVER_TRAINING_POLL_SECONDS = env.float("WEAVER_TRAINING_POLL_SECONDS", default=1.0)
DATA_UPLOAD_MAX_MEMORY_SIZE = WEAVER_IMPORT_MAX_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = WEAVER_IMPORT_MAX_BYTES
