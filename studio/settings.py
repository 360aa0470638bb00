"""Settings: every difference between machines is an environment variable (see README)."""

from __future__ import annotations

import json
import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def env_number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}") from None


def env_int(name: str, default: int, minimum: int = 0) -> int:
    """A whole number of at least `minimum`; "1.5", "-1" or "ten" refuse to start."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {raw!r}")
    return value


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env_str(name, default).lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


DATA_DIR = Path(env_str("STUDIO_DATA_DIR", str(BASE_DIR / "data"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept in the data folder."""
    given = env_str("SECRET_KEY")
    if given:
        return given
    path = DATA_DIR / "secret_key"
    if not path.exists():
        # O_EXCL: two processes starting together agree on one key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(64))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "django_q",
    "axes",
    "csp",
    "studio.accounts",
    "studio.generations",
    "studio.library",
    "studio.review",
    "studio.composer",  # the studio page: on top of the others, imported by none
    "studio.ops",  # operating it (backups, retention): on top too, imported by none
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before anything reads a body (the CSRF check parses uploads): STUDIO_MAX_REQUEST_MB.
    "studio.bodylimit.body_limit",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    # The signed-in user becomes the actor of audit entries written while handling a request.
    "studio.review.audit.AuditMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into its lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "studio.urls"
WSGI_APPLICATION = "studio.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "studio.accounts.context.studio",
                "studio.generations.context.nav",
                "studio.review.context.review_news",
            ],
        },
    },
]

# Databases. Embedded default: SQLite in the data folder, WAL, a busy timeout and
# IMMEDIATE transactions so a reading transaction that later writes waits instead of
# failing with "database is locked" (Django docs, SQLite notes; docs/reliability.md R13-R14).
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "studio.sqlite3",
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": (
                    "PRAGMA journal_mode=WAL;"
                    "PRAGMA synchronous=NORMAL;"
                    "PRAGMA journal_size_limit=67108864;"
                ),
            },
            # Each web thread keeps its connection (as PostgreSQL's above): opening one and
            # running the PRAGMAs cost about a millisecond of every request. Django closes
            # it after an error or when it is older than this (STUDIO_DB_CONN_MAX_AGE).
            "CONN_MAX_AGE": env_int("STUDIO_DB_CONN_MAX_AGE", 60, minimum=0),
            "CONN_HEALTH_CHECKS": True,
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # ModelBackend reading permissions in one query (the queue poll checks a role).
    "studio.accounts.backends.StudioModelBackend",
]
# Sign-in throttling (docs/reliability.md R40): 5 failures per username and address, 30 minutes.
AXES_FAILURE_LIMIT = int(env_number("STUDIO_LOGIN_FAILURE_LIMIT", 5))
AXES_COOLOFF_TIME = timedelta(minutes=30)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_RESET_ON_SUCCESS = True
AXES_IPWARE_PROXY_COUNT = int(env_number("STUDIO_PROXY_COUNT", 0)) or None
AXES_VERBOSE = False

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "studio"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns on every request without it
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(DATA_DIR / "media"))).resolve()
# Downloads are written here, then renamed into MEDIA_ROOT: keep both on one file system
# so the rename is atomic (a file in storage is never half-written).
FILE_UPLOAD_TEMP_DIR = Path(env_str("STUDIO_TEMP_DIR", str(DATA_DIR / "tmp"))).resolve()
FILE_UPLOAD_TEMP_DIR.mkdir(parents=True, exist_ok=True)
# Media storage: local files by default; for several machines a shared storage, e.g.
# STUDIO_MEDIA_STORAGE=storages.backends.s3.S3Storage with django-storages installed and
# STUDIO_MEDIA_STORAGE_OPTIONS='{"bucket_name": "studio-media"}' (README: Running for a team).
try:
    MEDIA_STORAGE_OPTIONS = json.loads(env_str("STUDIO_MEDIA_STORAGE_OPTIONS") or "{}")
except ValueError:
    raise ImproperlyConfigured("STUDIO_MEDIA_STORAGE_OPTIONS must be a JSON object") from None
if not isinstance(MEDIA_STORAGE_OPTIONS, dict):
    raise ImproperlyConfigured("STUDIO_MEDIA_STORAGE_OPTIONS must be a JSON object")
STORAGES = {
    "default": {
        "BACKEND": env_str("STUDIO_MEDIA_STORAGE", "django.core.files.storage.FileSystemStorage"),
        "OPTIONS": MEDIA_STORAGE_OPTIONS,
    },
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Media delivery: who sends a video's bytes once the studio's view has checked that the
# person may see it (docs/architecture.md "Media delivery", docs/reliability.md R74-R80).
# app: the studio's own threads (one per viewer for the whole download); server: the
# studio's async media process (`make run` starts it) behind a signed short-lived link;
# nginx: X-Accel-Redirect; sendfile: X-Sendfile (Apache, Caddy); s3: a presigned URL.
MEDIA_DELIVERIES = ("app", "server", "nginx", "sendfile", "s3")
MEDIA_SERVER_URL = env_str("STUDIO_MEDIA_SERVER_URL").rstrip("/")
_ON_S3 = STORAGES["default"]["BACKEND"].endswith("S3Storage")
MEDIA_DELIVERY = env_choice(
    "STUDIO_MEDIA_DELIVERY",
    "s3" if _ON_S3 else ("server" if MEDIA_SERVER_URL else "app"),
    MEDIA_DELIVERIES,
)
if MEDIA_DELIVERY == "s3" and not _ON_S3:
    raise ImproperlyConfigured(
        "STUDIO_MEDIA_DELIVERY=s3 needs STUDIO_MEDIA_STORAGE=storages.backends.s3.S3Storage"
    )
if MEDIA_DELIVERY == "s3" and (
    MEDIA_STORAGE_OPTIONS.get("querystring_auth") is False
    or MEDIA_STORAGE_OPTIONS.get("custom_domain")
):
    raise ImproperlyConfigured(
        "STUDIO_MEDIA_DELIVERY=s3 hands out presigned URLs: leave querystring_auth on and "
        "custom_domain unset in STUDIO_MEDIA_STORAGE_OPTIONS"
    )
if MEDIA_DELIVERY in ("server", "nginx", "sendfile") and _ON_S3:
    raise ImproperlyConfigured(
        f"STUDIO_MEDIA_DELIVERY={MEDIA_DELIVERY} serves local files; on S3 use s3"
    )
if MEDIA_DELIVERY == "server" and not MEDIA_SERVER_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(
        "STUDIO_MEDIA_DELIVERY=server needs STUDIO_MEDIA_SERVER_URL=http://host:port"
    )
# How long a media-server link or a presigned URL works.
MEDIA_LINK_SECONDS = env_int("STUDIO_MEDIA_LINK_SECONDS", 900, minimum=10)
# django-sendfile2: the header it sets, and for nginx the internal location (docs/nginx.conf).
SENDFILE_BACKEND = {
    "nginx": "django_sendfile.backends.nginx",
    "sendfile": "django_sendfile.backends.xsendfile",
}.get(MEDIA_DELIVERY, "django_sendfile.backends.simple")
SENDFILE_ROOT = str(MEDIA_ROOT)
SENDFILE_URL = "/protected-media"


def _media_origins() -> list[str]:
    """Where delivered media comes from besides the studio itself, for the CSP."""
    given = env_list("STUDIO_MEDIA_ORIGINS", "")
    if given or MEDIA_DELIVERY not in ("server", "s3"):
        return given
    if MEDIA_DELIVERY == "s3":
        endpoint = MEDIA_STORAGE_OPTIONS.get("endpoint_url") or ""
        return [endpoint.rstrip("/")] if endpoint else ["https://*.amazonaws.com"]
    scheme, rest = MEDIA_SERVER_URL.split("://", 1)
    host_port = rest.split("/", 1)[0]
    host, _, port = host_port.rpartition(":")
    if host in ("0.0.0.0", "[::]"):  # the redirect uses the host name the browser used
        return [f"{scheme}://*:{port}"]
    return [f"{scheme}://{host_port}"]


MEDIA_ORIGINS = _media_origins()

# A strict Content-Security-Policy (docs/reliability.md R38): only our own scripts, styles and
# media; htmx runs without eval and without its inline indicator styles (see base.html).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", *MEDIA_ORIGINS],
        "media-src": ["'self'", *MEDIA_ORIGINS],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

SESSION_ENGINE = "studio.accounts.sessions"  # database sessions, read in plain SQL
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# STUDIO_HTTPS=true: the studio is served over https (directly or behind a proxy that
# sets X-Forwarded-Proto, see STUDIO_PROXY_COUNT): secure cookies, redirect to https,
# HSTS. `manage.py check --deploy` is clean with it (tests/test_security.py).
STUDIO_HTTPS = env_bool("STUDIO_HTTPS", False)
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", STUDIO_HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = STUDIO_HTTPS
# Start low and raise to a year (31536000) once https works everywhere (Django checklist).
SECURE_HSTS_SECONDS = int(env_number("STUDIO_HSTS_SECONDS", 3600)) if STUDIO_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("STUDIO_HSTS_INCLUDE_SUBDOMAINS", True)
# Preloading is a commitment to browsers' lists; only when asked for. Without it the
# check's reminder (security.W021) is silenced on purpose.
SECURE_HSTS_PRELOAD = env_bool("STUDIO_HSTS_PRELOAD", False)
if not SECURE_HSTS_PRELOAD:
    SILENCED_SYSTEM_CHECKS = ["security.W021"]
if STUDIO_HTTPS and AXES_IPWARE_PROXY_COUNT:
    # Only behind a trusted proxy, which sets this header itself (Django checklist).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True

# The upstream. No key means the built-in simulator (README: "Simulator mode").
COMETAPI_KEY = env_str("COMETAPI_KEY")
SIMULATOR_MODE = not COMETAPI_KEY
SIMULATOR_PORT = int(env_number("STUDIO_SIMULATOR_PORT", 8001))
COMETAPI_BASE_URL = env_str(
    "COMETAPI_BASE_URL",
    f"http://127.0.0.1:{SIMULATOR_PORT}" if SIMULATOR_MODE else "https://api.cometapi.com",
).rstrip("/")
# Public base URL of this studio; when set, creates carry a callback_url (webhook).
STUDIO_PUBLIC_URL = env_str("STUDIO_PUBLIC_URL").rstrip("/")
# docs/upstream.md §3.2: the gateway documents 500/200.
PROMPT_LIMITS = {
    "prompt": int(env_number("STUDIO_PROMPT_LIMIT", 500)),
    "negative_prompt": int(env_number("STUDIO_NEGATIVE_PROMPT_LIMIT", 200)),
}
# docs/upstream.md §15: CometAPI documents only 5 and 10 s and calls other durations
# outside its request shape; kling-v3's official 3-15 s are offered only when this is set.
STUDIO_KLING_V3_ALL_DURATIONS = env_bool("STUDIO_KLING_V3_ALL_DURATIONS", False)
# The simulator `make run` starts holds requests to CometAPI's documented shape (§15);
# false: to Kling's official, wider one (set it with STUDIO_KLING_V3_ALL_DURATIONS).
SIMULATOR_STRICT = env_bool("STUDIO_SIM_STRICT", True)

# Upstream units per video, by model, mode ("" for models without std/pro) and duration
# (studio/review/pricing.py reads it). docs/upstream.md has no price list: kling-v1 std 5 s =
# 1 unit matches its example `final_unit_deduction`; the rest follow Kling's published unit
# table as far as we know it and are unverified (⚠): set STUDIO_UNIT_PRICES (the same
# shape, as JSON) to your account's prices. The same holds for sound: docs/upstream.md §15
# documents the field but no price, so each sound_factor (the price with sound on over the
# silent one) is unverified too. The units actually charged always come from the
# upstream's final_unit_deduction.
STUDIO_UNIT_PRICES = {
    "kling-v1": {"std": {"5": "1", "10": "2"}, "pro": {"5": "3.5", "10": "7"}},
    "kling-v1-5": {"std": {"5": "2", "10": "4"}, "pro": {"5": "3.5", "10": "7"}},
    "kling-v1-6": {"std": {"5": "2", "10": "4"}, "pro": {"5": "3.5", "10": "7"}},
    "kling-v2-master": {"": {"5": "10", "10": "20"}},
    "kling-v2-1": {"std": {"5": "2", "10": "4"}, "pro": {"5": "3.5", "10": "7"}},
    "kling-v2-1-master": {"": {"5": "10", "10": "20"}},
    "kling-v2-5-turbo": {"std": {"5": "1.5", "10": "3"}, "pro": {"5": "2.5", "10": "5"}},
    "kling-v2-6": {
        "std": {"5": "1.5", "10": "3"},
        "pro": {"5": "2.5", "10": "5", "sound_factor": "2"},
    },
    "kling-v3": {
        "std": {"per_second": "0.3", "sound_factor": "1.5"},
        "pro": {"per_second": "0.5", "sound_factor": "1.5"},
    },
}
if env_str("STUDIO_UNIT_PRICES"):
    try:
        STUDIO_UNIT_PRICES = json.loads(env_str("STUDIO_UNIT_PRICES"))
    except ValueError:
        raise ImproperlyConfigured("STUDIO_UNIT_PRICES must be a JSON object") from None
    if not isinstance(STUDIO_UNIT_PRICES, dict):
        raise ImproperlyConfigured("STUDIO_UNIT_PRICES must be a JSON object")

# Library batches: one larger than this asks for confirmation; none may be larger than the max.
STUDIO_BATCH_CONFIRM_OVER = int(env_number("STUDIO_BATCH_CONFIRM_OVER", 10))
STUDIO_BATCH_MAX = int(env_number("STUDIO_BATCH_MAX", 100))
# Each variable of a batch may have at most this many values, each at most this long.
STUDIO_BATCH_MAX_VALUES = int(env_number("STUDIO_BATCH_MAX_VALUES", 100))
STUDIO_BATCH_VALUE_MAX_CHARS = int(env_number("STUDIO_BATCH_VALUE_MAX_CHARS", 500))
# A prompt template may name at most this many distinct {variables}.
STUDIO_TEMPLATE_MAX_VARIABLES = int(env_number("STUDIO_TEMPLATE_MAX_VARIABLES", 10))

# Review: a reviewer approving their own video puts it before the whole team unseen by anyone
# else, so that is off unless this says otherwise (admins may; each one is audited).
STUDIO_ALLOW_SELF_APPROVAL = env_bool("STUDIO_ALLOW_SELF_APPROVAL", False)
# Presets a recipe card may record for a run (each checked as a preset, so each is small).
STUDIO_RECIPE_MAX_PRESETS = int(env_number("STUDIO_RECIPE_MAX_PRESETS", 10))
# Comments on the timeline: their author may edit one for this many minutes.
STUDIO_COMMENT_EDIT_MINUTES = env_int("STUDIO_COMMENT_EDIT_MINUTES", 10)
# Share links for people outside the studio: at most this many days until they expire.
STUDIO_SHARE_MAX_DAYS = env_int("STUDIO_SHARE_MAX_DAYS", 30, minimum=1)

# Pipeline tuning.
POLL_MIN_SECONDS = env_number("STUDIO_POLL_MIN_SECONDS", 2)
POLL_MAX_SECONDS = env_number("STUDIO_POLL_MAX_SECONDS", 30)
POLL_CONCURRENCY = int(env_number("STUDIO_POLL_CONCURRENCY", 32))
POLL_BATCH = int(env_number("STUDIO_POLL_BATCH", 1000))
# How long to wait for an upstream answer (docs/reliability.md R31: 30 s); a create that times out
# is looked up by its external_task_id before it is sent again.
UPSTREAM_READ_TIMEOUT = env_number("STUDIO_UPSTREAM_READ_TIMEOUT", 30)
STALL_AFTER = timedelta(seconds=env_number("STUDIO_STALL_AFTER_SECONDS", 20 * 60))
GIVE_UP_AFTER = timedelta(seconds=env_number("STUDIO_GIVE_UP_AFTER_SECONDS", 2 * 60 * 60))
SUBMIT_MAX_ATTEMPTS = int(env_number("STUDIO_SUBMIT_MAX_ATTEMPTS", 8))
# A create with an unclear outcome needs attention instead of being sent again after this
# many lookups by external_task_id found nothing (each empty one is followed by a create
# with the same id), or this many failed (docs/reliability.md R57).
STUDIO_RECONCILE_LOOKUPS = env_int("STUDIO_RECONCILE_LOOKUPS", 3, minimum=1)
STUDIO_RECONCILE_LOOKUP_FAILURES = env_int("STUDIO_RECONCILE_LOOKUP_FAILURES", 10, minimum=1)
DOWNLOAD_MAX_ATTEMPTS = int(env_number("STUDIO_DOWNLOAD_MAX_ATTEMPTS", 5))
DOWNLOAD_RETRY_SECONDS = env_number("STUDIO_DOWNLOAD_RETRY_SECONDS", 30)  # doubled per failure
DOWNLOAD_MAX_BYTES = int(env_number("STUDIO_DOWNLOAD_MAX_MB", 500) * 1024 * 1024)
# The largest request body accepted: a 5 MB library file or recipe card and its form.
MAX_REQUEST_BYTES = int(env_number("STUDIO_MAX_REQUEST_MB", 6) * 1024 * 1024)
# The studio form's Generate takes a start and an end picture of up to 10 MB each
# (docs/upstream.md §15.1) and the form: that route alone may send this much.
MAX_UPLOAD_BYTES = int(env_number("STUDIO_MAX_UPLOAD_MB", 21) * 1024 * 1024)
# Hosts the downloader may fetch from although they are private or plain http.
# Simulator mode allows its own loopback address.
DOWNLOAD_ALLOWED_HOSTS = env_list(
    "STUDIO_DOWNLOAD_ALLOWED_HOSTS", f"127.0.0.1:{SIMULATOR_PORT}" if SIMULATOR_MODE else ""
)

# Operating (README: Operating). Scheduled backups: a snapshot of the database and the
# media every STUDIO_BACKUP_EVERY_HOURS into STUDIO_BACKUP_DIR (unset: none), keeping the
# newest STUDIO_BACKUP_KEEP. `manage.py backup DEST` works without them.
STUDIO_BACKUP_DIR = env_str("STUDIO_BACKUP_DIR")
STUDIO_BACKUP_EVERY_HOURS = env_int("STUDIO_BACKUP_EVERY_HOURS", 24, minimum=1)
STUDIO_BACKUP_KEEP = env_int("STUDIO_BACKUP_KEEP", 7, minimum=1)
# Retention: videos older than STUDIO_RETENTION_DAYS (0: never) that are not approved and
# whose prompt nobody starred are archived (moved to STUDIO_RETENTION_ARCHIVE_DIR) or
# deleted; the row, its poster and its spend stay. `manage.py retention --preview` lists them.
STUDIO_RETENTION_DAYS = env_int("STUDIO_RETENTION_DAYS", 0)
STUDIO_RETENTION_ACTION = env_choice("STUDIO_RETENTION_ACTION", "archive", ("archive", "delete"))
STUDIO_RETENTION_ARCHIVE_DIR = Path(
    env_str("STUDIO_RETENTION_ARCHIVE_DIR", str(DATA_DIR / "archive"))
).resolve()

# django-q2: settings from docs/reliability.md (retry > timeout, catch_up off, small queue).
REDIS_URL = env_str("REDIS_URL")
QUEUE_WORKERS = int(env_number("STUDIO_WORKERS", 2))
# After SIGTERM the worker finishes what it holds for at most this long, then kills the rest.
WORKER_STOP_SECONDS = env_number("STUDIO_WORKER_STOP_SECONDS", 10)
# The worker's main process records that it is alive this often (studio/generations/vitals.py).
STUDIO_HEARTBEAT_SECONDS = env_number("STUDIO_HEARTBEAT_SECONDS", 10)

# The webhook's per-address rate limit (docs/reliability.md R56): at most this many callbacks
# per address per window (0: no limit), counted in a local-memory cache of at most
# STUDIO_WEBHOOK_RATE_ADDRESSES addresses per web process (the oldest third is dropped when
# full), so the limit is per gunicorn worker and its memory is bounded.
STUDIO_WEBHOOK_RATE_LIMIT = env_int("STUDIO_WEBHOOK_RATE_LIMIT", 300)
STUDIO_WEBHOOK_RATE_WINDOW = env_int("STUDIO_WEBHOOK_RATE_WINDOW", 60, minimum=1)
STUDIO_WEBHOOK_RATE_ADDRESSES = env_int("STUDIO_WEBHOOK_RATE_ADDRESSES", 10000, minimum=100)
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    # The list pages' finished tiles ({% tilecache %}, library_tags.py), per web process:
    # at most STUDIO_TILE_CACHE_ENTRIES (about 2 KB each), the oldest third dropped when full.
    "tiles": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "tiles",
        "TIMEOUT": 3600,
        "OPTIONS": {
            "MAX_ENTRIES": env_int("STUDIO_TILE_CACHE_ENTRIES", 5000, minimum=100),
            "CULL_FREQUENCY": 3,
        },
    },
    "webhooks": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "webhooks",
        "TIMEOUT": STUDIO_WEBHOOK_RATE_WINDOW,
        "OPTIONS": {"MAX_ENTRIES": STUDIO_WEBHOOK_RATE_ADDRESSES, "CULL_FREQUENCY": 3},
    },
}

# The health page's bounds (README: Operating): each check turns red outside its bound.
# `/healthz?deep=1` answers 503 when no worker was seen within STUDIO_HEALTH_WORKER_SECONDS.
STUDIO_HEALTH_WORKER_SECONDS = env_number("STUDIO_HEALTH_WORKER_SECONDS", 60)
STUDIO_HEALTH_QUEUE_MAX = env_int("STUDIO_HEALTH_QUEUE_MAX", 100)  # tasks waiting in the broker
STUDIO_HEALTH_DUE_SECONDS = env_number("STUDIO_HEALTH_DUE_SECONDS", 300)  # oldest due row
STUDIO_HEALTH_STALLED_MAX = env_int("STUDIO_HEALTH_STALLED_MAX", 0)  # stalled rows
STUDIO_HEALTH_ERROR_RATE = env_number("STUDIO_HEALTH_ERROR_RATE", 0.2)  # last hour, 0-1
STUDIO_HEALTH_POLL_SECONDS = env_number("STUDIO_HEALTH_POLL_SECONDS", 300)  # last good poll
STUDIO_HEALTH_DISK_FREE_MB = env_int("STUDIO_HEALTH_DISK_FREE_MB", 2048)
STUDIO_HEALTH_BACKUP_HOURS = env_number("STUDIO_HEALTH_BACKUP_HOURS", 48)
Q_CLUSTER = {
    # Every cluster sharing a broker must use the same name (django-q2 cluster.rst).
    "name": env_str("STUDIO_QUEUE_NAME", "studio"),
    "workers": QUEUE_WORKERS,
    "timeout": 120,
    "retry": 300,
    "max_attempts": 3,
    "ack_failures": True,
    "queue_limit": 2 * QUEUE_WORKERS,  # docs/reliability.md R3: at most twice the workers
    "bulk": 1,
    "poll": 0.5,
    "catch_up": False,
    "scheduler_interval": 5,
    # A worker process is replaced after this many tasks, or once its peak RSS passes
    # max_rss (KB) (docs/reliability.md R9; the soak in BENCHMARKS.md runs with both).
    "recycle": env_int("STUDIO_WORKER_RECYCLE", 200, minimum=1),
    "max_rss": env_int("STUDIO_WORKER_MAX_RSS_MB", 400, minimum=50) * 1000,
    "save_limit": 1000,
    "label": "Task queue",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    # Webhook tokens are blanked out of every line we print, and of Django's request records
    # before any handler (one added later too) sees them (docs/reliability.md R27).
    "filters": {"redact": {"()": "studio.accesslog.RedactingFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"filters": ["redact"]},
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
