"""Settings: one class of defaults per environment, each value overridable from the environment."""

from __future__ import annotations

import binascii
import ipaddress
import math
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import limits.storage
from cryptography.fernet import Fernet
from limits import parse_many


class ConfigError(ValueError):
    """Settings that cannot be used; `problems` has one readable line for each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


ENGINES = ("moto", "local")


class Config:
    """Defaults shared by every environment."""

    APP_ENV = "development"
    HOST = "127.0.0.1"
    PORT = 5000
    # `make serve` (gunicorn): worker processes (0: 2 x cores + 1) and threads in each.
    WEB_CONCURRENCY = 0
    WEB_THREADS = 4
    LOG_LEVEL = "INFO"
    LOG_FORMAT = "text"  # or "json": one object per line

    # DynamoDB. A None endpoint or region leaves the choice to botocore's own chain
    # (AWS_ENDPOINT_URL_DYNAMODB, AWS_REGION/AWS_DEFAULT_REGION, ~/.aws/config).
    AWS_ENDPOINT_URL_DYNAMODB: str | None = None
    AWS_REGION: str | None = "us-east-1"
    TABLE_PREFIX = ""
    DYNAMODB_BILLING = "PAY_PER_REQUEST"
    DYNAMODB_READ_CAPACITY = 5
    DYNAMODB_WRITE_CAPACITY = 5
    # botocore waits 60 s by default; a web request must fail within a few seconds.
    DYNAMODB_CONNECT_TIMEOUT = 1.0
    DYNAMODB_READ_TIMEOUT = 1.0
    DYNAMODB_MAX_ATTEMPTS = 3
    DYNAMODB_TABLE_WAIT_SECONDS = 60
    # /api/health/ready asks DynamoDB at most this often.
    HEALTH_CACHE_SECONDS = 5.0
    # The DynamoDB that `make run` and `make serve` start in development when no endpoint
    # is set: "moto" (in memory, Python only) or "local" (Amazon's DynamoDB Local, on Java,
    # keeping its data in DYNAMODB_LOCAL_PATH, relative to the project).
    DYNAMODB_ENGINE = "moto"
    DYNAMODB_LOCAL_PATH = "instance/dynamodb"

    # The tutorial's published demo accounts (johndoe, an admin, and janedoe): seeded only
    # into a DynamoDB that `make run` or `make serve` started itself, unless set to true.
    SEED_DEMO_USERS = False
    BCRYPT_ROUNDS = 12
    MAX_CONTENT_LENGTH = 16 * 1024

    # Sessions: absolute lifetime, idle timeout, and how often last use is written back.
    SESSION_TTL = 12 * 3600
    SESSION_IDLE_TIMEOUT = 30 * 60
    SESSION_REFRESH_INTERVAL = 60
    # Changing one's own email or deleting one's own account needs the password: sent with
    # the request, or proven by the session within this many seconds (0: always sent).
    REAUTH_WINDOW = 10 * 60
    # The original `GET /api/user?username=&password=`; production refuses it (400).
    ALLOW_QUERY_CREDENTIALS = True

    # Per account, whatever the address (Cognito's rule): from the LOCKOUT_THRESHOLD-th
    # consecutive failed login the account waits, from 1 s doubling up to LOCKOUT_MAX_WAIT
    # seconds; LOCKOUT_RESET_AFTER quiet seconds after a lock has ended, the count restarts.
    LOCKOUT_THRESHOLD = 5
    LOCKOUT_MAX_WAIT = 15 * 60
    LOCKOUT_RESET_AFTER = 15 * 60

    # Who may read the user directory (GET /api/users) and other users' profiles: anyone
    # ("public", the original tutorial's anonymous list), "signed_in" users, or "admins".
    DIRECTORY = "public"

    # Per client address, on the login and registration routes (Flask-Limiter), counted in
    # DynamoDB so that every worker and instance spends one budget.
    RATELIMIT_ENABLED = True
    RATELIMIT_STORAGE_URI = "dynamodb://"
    RATELIMIT_LOGIN = "20 per minute"
    RATELIMIT_REGISTER = "10 per minute"
    # Per client address, on anonymous reads of the directory (where DIRECTORY allows them).
    RATELIMIT_DIRECTORY = "60 per minute"
    # Per client address, on the routes that ask for a password reset or verification mail.
    RATELIMIT_MAIL = "5 per minute; 20 per hour"
    # Per client address, on the routes that spend a mailed token (a guess is hopeless at
    # 256 bits; this bounds the password hashing a stranger can make the server do).
    RATELIMIT_TOKENS = "30 per minute"
    # Per account and per kind of mail (reset, verification), whoever asks: at most this
    # many mails, so that nobody can bury a user's inbox.
    MAIL_PER_ACCOUNT = "3 per hour"

    # Proxies in front of the app (load balancers) whose X-Forwarded-For entries are
    # trusted: the client's address is the right-most entry they did not write. 0: none,
    # the socket's peer is the client.
    TRUSTED_PROXY_COUNT = 0

    # Browser front ends allowed to call the API: comma-separated origins, each exactly
    # scheme://host[:port] (no wildcard, no pattern). Production allows none by default.
    CORS_ORIGINS = "http://localhost:4200"
    # Strict-Transport-Security's max-age, sent on every response when above 0: only once
    # the service is reached over HTTPS alone (browsers then refuse plain HTTP for it).
    HSTS_SECONDS = 0
    # Swagger UI at /api/docs (the OpenAPI document at /api/openapi.json stays).
    DOCS_ENABLED = True

    # Mail (account recovery, verification): sent off the request path by MAIL_WORKERS
    # threads from a queue of MAIL_QUEUE_SIZE, each message tried MAIL_ATTEMPTS times.
    # MAIL_BACKEND: "console" (logged, not sent), "smtp", "ses" (Amazon SES, the region and
    # credentials of DynamoDB) or "memory" (tests). PUBLIC_URL is the dashboard's address,
    # for the links in messages.
    MAIL_BACKEND = "console"
    MAIL_FROM = "no-reply@localhost"
    PRODUCT_NAME = "User accounts"
    PUBLIC_URL = "http://127.0.0.1:5000"
    MAIL_QUEUE_SIZE = 100
    MAIL_WORKERS = 2
    MAIL_ATTEMPTS = 3
    SMTP_HOST = "localhost"
    SMTP_PORT = 587
    SMTP_USERNAME = ""
    SMTP_PASSWORD = ""
    SMTP_SECURITY = "starttls"  # or "tls" (from the first byte, port 465) or "none"
    SMTP_TIMEOUT = 10.0
    # A folder of templates that take the place of the shipped ones (app/templates) with
    # the same name, such as mail/password_reset.html. Empty: the shipped ones only.
    TEMPLATE_FOLDER = ""

    # Password reset and email verification links: how long each stays valid (seconds).
    PASSWORD_RESET_TTL = 30 * 60
    EMAIL_VERIFICATION_TTL = 24 * 60 * 60
    # Signing in (a login, HTTP Basic) with an email not verified yet answers 403 after the
    # right password. Sessions already open keep working.
    REQUIRE_VERIFIED_EMAIL = False

    # Keys that encrypt the secrets kept in DynamoDB that must be read back (second factors'
    # TOTP secrets): comma-separated Fernet keys, newest first. The newest encrypts; any
    # decrypts, so a key is rotated by putting a new one first (app/helpers/keyring.py).
    # Development without one makes a key for the process (secrets set up then are
    # unreadable after a restart); production with SECOND_FACTORS refuses to start.
    SECRET_KEYS = ""
    # Users may set up second factors (TOTP with recovery codes).
    SECOND_FACTORS = True
    # Admin actions need a session signed in with a second factor (403 otherwise).
    REQUIRE_ADMIN_MFA = False
    # How long the second step of a sign-in may wait after the password (seconds); also
    # how long passkey options stay usable.
    MFA_CHALLENGE_TTL = 5 * 60
    # Passkeys (WebAuthn): the relying party's ID (a host name) and the origins its pages
    # come from (comma-separated). Empty: from PUBLIC_URL (localhost for a loopback one).
    WEBAUTHN_RP_ID = ""
    WEBAUTHN_ORIGINS = ""


class DevelopmentConfig(Config):
    """`make run` on a laptop: embedded DynamoDB, demo users."""


class TestingConfig(Config):
    """The test suite: cheap hashes, its own table names."""

    APP_ENV = "testing"
    TESTING = True
    SEED_DEMO_USERS = True  # moto's mock, which the tests start themselves
    TABLE_PREFIX = "test_"
    BCRYPT_ROUNDS = 4
    # Tests make many logins from one address; the limiter's own tests set tight limits.
    RATELIMIT_LOGIN = "1000 per minute"
    RATELIMIT_REGISTER = "1000 per minute"
    RATELIMIT_DIRECTORY = "1000 per minute"
    RATELIMIT_MAIL = "1000 per minute"
    RATELIMIT_TOKENS = "1000 per minute"
    # Counted in memory: each test's app on its own, with no DynamoDB call (the tests of the
    # DynamoDB storage choose it).
    RATELIMIT_STORAGE_URI = "memory://"
    MAIL_BACKEND = "memory"
    # A fixed key, so that the apps a test builds over one table read each other's secrets.
    SECRET_KEYS = "dGVzdGluZy1vbmx5LWtleS1mb3ItdGhlLXRlc3RzLTA="  # noqa: S105 - tests only


class ProductionConfig(Config):
    """A real deployment: region from the AWS chain, no demo users."""

    APP_ENV = "production"
    AWS_REGION: str | None = None
    ALLOW_QUERY_CREDENTIALS = False
    CORS_ORIGINS = ""
    DIRECTORY = "signed_in"
    PUBLIC_URL = ""
    REQUIRE_ADMIN_MFA = True


ENVIRONMENTS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}

# An empty value means "not set" here (what docker compose's ${VAR} gives for an unset VAR).
_EMPTY_MEANS_UNSET = {"AWS_REGION", "AWS_ENDPOINT_URL_DYNAMODB"}
# scheme://host[:port]: a DNS name or an IP address (IPv6 in brackets), nothing more.
_ORIGIN = re.compile(
    r"https?://(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*"
    r"|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?",
    re.IGNORECASE,
)
DIRECTORY_READERS = ("public", "signed_in", "admins")
MAIL_BACKENDS = ("console", "smtp", "ses", "memory")
SMTP_SECURITY = ("starttls", "tls", "none")
RATE_LIMITS = (
    "RATELIMIT_LOGIN",
    "RATELIMIT_REGISTER",
    "RATELIMIT_DIRECTORY",
    "RATELIMIT_MAIL",
    "RATELIMIT_TOKENS",
    "MAIL_PER_ACCOUNT",
)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_TRUE = {"1", "true", "yes", "on"}
# app/helpers/users.py seeds these; named here for the start-up messages.
DEMO_USERNAMES = "johndoe and janedoe"
_FALSE = {"0", "false", "no", "off"}


def keys_of(raw: str) -> list[str]:
    """The keys of a SECRET_KEYS value: comma-separated, newest first."""
    return [key.strip() for key in raw.split(",") if key.strip()]


def key_problem(key: str) -> str | None:
    """Why `key` is not a Fernet key (32 url-safe base64 bytes), or None."""
    try:
        Fernet(key.encode("ascii"))
    except (ValueError, binascii.Error, UnicodeError):
        return "must be Fernet keys (Fernet.generate_key(): 32 url-safe base64 bytes)"
    return None


def cors_origins(raw: str) -> list[str]:
    """The origins of a CORS_ORIGINS value."""
    return [origin.strip() for origin in raw.split(",") if origin.strip()]


def settings_of(config_class: type[Config]) -> dict[str, Any]:
    """The upper-case settings of a config class, inherited ones included."""
    return {name: getattr(config_class, name) for name in dir(config_class) if name.isupper()}


def _parse(name: str, raw: str, default: Any) -> Any:
    """Convert an environment string to the type of the setting's default."""
    try:
        if isinstance(default, bool):
            lowered = raw.strip().lower()
            if lowered in _TRUE | _FALSE:
                return lowered in _TRUE
            raise ValueError("expected true or false")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError as exc:
        raise ConfigError([f"{name}={raw!r} is not valid: {exc}"]) from exc
    return raw or None if default is None else raw


def config_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The settings for APP_ENV (development by default), overridden by the environment."""
    environ = os.environ if environ is None else environ
    app_env = environ.get("APP_ENV", "development")
    if app_env not in ENVIRONMENTS:
        raise ConfigError([f"APP_ENV={app_env!r} is not one of {', '.join(ENVIRONMENTS)}"])
    settings = settings_of(ENVIRONMENTS[app_env])
    unreadable: list[str] = []
    for name, default in settings.items():
        if name in _EMPTY_MEANS_UNSET and not environ.get(name):
            continue
        if name in environ and name != "APP_ENV":
            try:
                settings[name] = _parse(name, environ[name], default)
            except ConfigError as exc:
                unreadable += exc.problems

    # AWS_DEFAULT_REGION is the older spelling botocore also reads.
    if not environ.get("AWS_REGION") and environ.get("AWS_DEFAULT_REGION"):
        settings["AWS_REGION"] = environ["AWS_DEFAULT_REGION"]
    if not environ.get("AWS_ENDPOINT_URL_DYNAMODB") and environ.get("AWS_ENDPOINT_URL"):
        settings["AWS_ENDPOINT_URL_DYNAMODB"] = environ["AWS_ENDPOINT_URL"]
    try:
        validate(settings)
    except ConfigError as exc:
        unreadable += exc.problems
    if unreadable:
        raise ConfigError(unreadable)
    return settings


def validate(settings: Mapping[str, Any]) -> None:
    """Refuse settings that cannot work, naming every problem."""
    problems = []
    if settings["DYNAMODB_ENGINE"] not in ENGINES:
        problems.append(f"DYNAMODB_ENGINE must be {' or '.join(ENGINES)}")
    if settings["DYNAMODB_BILLING"] not in ("PAY_PER_REQUEST", "PROVISIONED"):
        problems.append("DYNAMODB_BILLING must be PAY_PER_REQUEST or PROVISIONED")
    if not 4 <= settings["BCRYPT_ROUNDS"] <= 31:
        problems.append("BCRYPT_ROUNDS must be between 4 and 31")
    for name in ("DYNAMODB_READ_CAPACITY", "DYNAMODB_WRITE_CAPACITY", "DYNAMODB_MAX_ATTEMPTS"):
        if settings[name] < 1:
            problems.append(f"{name} must be at least 1")
    for name in ("DYNAMODB_CONNECT_TIMEOUT", "DYNAMODB_READ_TIMEOUT"):
        if not 0 < settings[name] < math.inf:  # also refuses NaN
            problems.append(f"{name} must be a positive finite number of seconds")
    for name in ("LOCKOUT_THRESHOLD", "LOCKOUT_MAX_WAIT"):
        if settings[name] < 1:
            problems.append(f"{name} must be at least 1")
    if settings["LOCKOUT_RESET_AFTER"] < 0:
        problems.append("LOCKOUT_RESET_AFTER must be 0 or more seconds")
    if settings["REAUTH_WINDOW"] < 0:
        problems.append("REAUTH_WINDOW must be 0 or more seconds")
    if settings["TRUSTED_PROXY_COUNT"] < 0:
        problems.append("TRUSTED_PROXY_COUNT must be 0 or more")
    if not 30 <= settings["MFA_CHALLENGE_TTL"] <= 3600:
        problems.append("MFA_CHALLENGE_TTL must be between 30 and 3600 seconds")
    problems += _webauthn_problems(settings["WEBAUTHN_RP_ID"], settings["WEBAUTHN_ORIGINS"])
    for name in ("SESSION_TTL", "SESSION_IDLE_TIMEOUT", "SESSION_REFRESH_INTERVAL"):
        if settings[name] < 1:
            problems.append(f"{name} must be at least 1 second")
    if settings["MAIL_BACKEND"] not in MAIL_BACKENDS:
        problems.append(f"MAIL_BACKEND must be {', '.join(MAIL_BACKENDS)}")
    if settings["SMTP_SECURITY"] not in SMTP_SECURITY:
        problems.append(f"SMTP_SECURITY must be {', '.join(SMTP_SECURITY)}")
    if not 1 <= settings["SMTP_PORT"] <= 65535:
        problems.append("SMTP_PORT must be between 1 and 65535")
    if not 0 < settings["SMTP_TIMEOUT"] < math.inf:
        problems.append("SMTP_TIMEOUT must be a positive finite number of seconds")
    for name in (
        "MAIL_QUEUE_SIZE",
        "MAIL_WORKERS",
        "MAIL_ATTEMPTS",
        "PASSWORD_RESET_TTL",
        "EMAIL_VERIFICATION_TTL",
    ):
        if settings[name] < 1:
            problems.append(f"{name} must be at least 1")
    if settings["PUBLIC_URL"] and not re.fullmatch(
        r"https?://[^\s/?#]+(/[^\s?#]*)?", settings["PUBLIC_URL"]
    ):
        problems.append(
            "PUBLIC_URL must be an http(s) address such as https://accounts.example.com"
        )
    folder = settings["TEMPLATE_FOLDER"]
    if folder and not os.path.isdir(folder):
        problems.append(f"TEMPLATE_FOLDER={folder!r} is not a folder")
    odd_keys = [k for k in keys_of(settings["SECRET_KEYS"]) if key_problem(k)]
    if odd_keys:
        problems.append(f"SECRET_KEYS {key_problem(odd_keys[0])}; {len(odd_keys)} are not")
    if settings["LOG_FORMAT"] not in ("text", "json"):
        problems.append("LOG_FORMAT must be text or json")
    if "*" in settings["CORS_ORIGINS"]:
        problems.append("CORS_ORIGINS must list origins; a wildcard is not allowed")
    else:
        # flask-cors reads an origin with pattern characters as a regular expression that
        # is anchored only at its start: "https://app.example.com" would then also let in
        # "https://app.example.com.evil.test". Only plain origins are accepted.
        odd = [o for o in cors_origins(settings["CORS_ORIGINS"]) if not _ORIGIN.fullmatch(o)]
        if odd:
            problems.append(
                f"CORS_ORIGINS must be origins such as https://app.example.com:8443 "
                f"(scheme, host, optional port, nothing else), not {', '.join(map(repr, odd))}"
            )
    if settings["HSTS_SECONDS"] < 0:
        problems.append("HSTS_SECONDS must be 0 (off) or more")
    if settings["LOG_LEVEL"] not in LOG_LEVELS:
        problems.append(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
    if settings["DIRECTORY"] not in DIRECTORY_READERS:
        problems.append(f"DIRECTORY must be one of {', '.join(DIRECTORY_READERS)}")
    for name in RATE_LIMITS:
        try:
            parse_many(settings[name])
        except ValueError:
            problems.append(f"{name} must be a rate limit such as '20 per minute'")
    scheme = settings["RATELIMIT_STORAGE_URI"].partition("://")[0]
    # dynamodb:// is the app's own (app/helpers/rate_limits.py), registered when it is built.
    if scheme not in {*limits.storage.SCHEMES, "dynamodb"}:
        problems.append(
            f"RATELIMIT_STORAGE_URI must be dynamodb:// or a storage the limits library knows "
            f"(memory://, redis://host:6379, ...), not {scheme!r}"
        )
    if problems:
        raise ConfigError(problems)


def startup_problems(
    settings: Mapping[str, Any], *, workers: int, default_region: str | None
) -> tuple[list[str], list[str]]:
    """What stops a production server from working (errors) and what weakens it (warnings).

    `default_region` is what the AWS configuration (files, environment) would give botocore.
    """
    errors: list[str] = []
    warnings: list[str] = []
    if settings["APP_ENV"] != "production":
        return errors, warnings
    if settings["DYNAMODB_ENGINE"] != "moto":
        errors.append(
            f"DYNAMODB_ENGINE={settings['DYNAMODB_ENGINE']} starts a development DynamoDB; "
            "production uses AWS_REGION or AWS_ENDPOINT_URL_DYNAMODB"
        )
    region = settings["AWS_REGION"] or default_region
    if not settings["AWS_ENDPOINT_URL_DYNAMODB"] and not region:
        errors.append(
            "no DynamoDB configured: set AWS_REGION (AWS) or AWS_ENDPOINT_URL_DYNAMODB "
            "(a DynamoDB-compatible server); production never starts an embedded one"
        )
    elif not region:
        # botocore signs every request with a region, the endpoint's own included.
        errors.append(
            "AWS_REGION is needed with AWS_ENDPOINT_URL_DYNAMODB too: requests are signed with it"
        )
    if not settings["TRUSTED_PROXY_COUNT"] and _is_loopback(settings["HOST"]):
        warnings.append(
            f"HOST={settings['HOST']} is a loopback address, so a proxy must be in front, but "
            "TRUSTED_PROXY_COUNT is 0: every client will have the proxy's address and share "
            "one rate-limit budget; set it to the number of proxies"
        )
    if settings["SEED_DEMO_USERS"]:
        errors.append(
            "SEED_DEMO_USERS is on: production would create the published demo accounts "
            f"({DEMO_USERNAMES}, an admin with a published password)"
        )
    mail = settings["MAIL_BACKEND"]
    if mail == "memory":
        errors.append("MAIL_BACKEND=memory keeps every message in memory: no mail would leave")
    elif mail == "console":
        warnings.append(
            "MAIL_BACKEND=console writes messages to the log instead of sending them; "
            "set smtp or ses"
        )
    elif not settings["PUBLIC_URL"]:
        errors.append(
            f"MAIL_BACKEND={mail} sends links to the dashboard, but PUBLIC_URL is not set "
            "(its address, such as https://accounts.example.com)"
        )
    if settings["SECOND_FACTORS"] and not keys_of(settings["SECRET_KEYS"]):
        errors.append(
            "SECOND_FACTORS is on but SECRET_KEYS is empty: TOTP secrets are encrypted with "
            "it (generate one with `flask users new-key`)"
        )
    if settings["BCRYPT_ROUNDS"] < 10:
        warnings.append(f"BCRYPT_ROUNDS={settings['BCRYPT_ROUNDS']} is below OWASP's minimum of 10")
    limiting = settings["RATELIMIT_ENABLED"]
    if limiting and settings["RATELIMIT_STORAGE_URI"].startswith("memory") and workers > 1:
        warnings.append(
            f"RATELIMIT_STORAGE_URI is in memory with {workers} workers: each worker counts on "
            "its own, so the per-address limits are that many times looser; use a shared "
            "storage (dynamodb://, the default, or redis://...)"
        )
    return errors, warnings


def _webauthn_problems(rp_id: str, origins: str) -> list[str]:
    """Why WEBAUTHN_RP_ID or WEBAUTHN_ORIGINS cannot work (browsers refuse them)."""
    problems = []
    if rp_id and (not _ORIGIN.fullmatch(f"https://{rp_id}") or _is_ip(rp_id) or ":" in rp_id):
        problems.append("WEBAUTHN_RP_ID must be a host name (no scheme, port or IP address)")
    for origin in cors_origins(origins):
        host = urlsplit(origin).hostname or ""
        if not _ORIGIN.fullmatch(origin):
            problems.append(
                f"WEBAUTHN_ORIGINS must list origins (scheme://host[:port]): {origin!r}"
            )
        elif rp_id and host != rp_id and not host.endswith(f".{rp_id}"):
            problems.append(f"WEBAUTHN_ORIGINS: {origin} is not on {rp_id} or a subdomain of it")
    return problems


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def demo_users_warning(settings: Mapping[str, Any]) -> str | None:
    """A warning when the demo accounts are seeded on a server other machines can reach."""
    if not settings["SEED_DEMO_USERS"] or _is_loopback(settings["HOST"]):
        return None
    return (
        f"HOST={settings['HOST']} can be reached from other machines, and the published demo "
        f"accounts {DEMO_USERNAMES} are seeded (johndoe is an admin): anyone who can reach "
        "it can sign in as them; set SEED_DEMO_USERS=false or listen on 127.0.0.1"
    )
