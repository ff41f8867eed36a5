"""What the bench takes from the app, imported in this one place.

When the app moves one of these, only the imports below change.
"""

from app.config import Config
from app.helpers.clock import iso
from app.helpers.passwords import FOREIGN_BCRYPT, PasswordHasher
from app.helpers.sessions import hash_token
from app.helpers.tables.sessions import SESSIONS
from app.helpers.tables.tokens import TOKENS
from app.helpers.tables.users import EMAILS, USERS, shard_of
from app.helpers.transfer import EXPORT_PAGE
from app.models import ListQuery

__all__ = [
    "BCRYPT_ROUNDS",
    "CONNECT_TIMEOUT",
    "DEFAULT_THREADS",
    "EMAILS",
    "EMAILS_TABLE",
    "EXPORT_PAGE",
    "FOREIGN_BCRYPT",
    "MAX_ATTEMPTS",
    "PAGE_LIMIT",
    "READ_TIMEOUT",
    "SESSIONS_TABLE",
    "TABLE_PREFIX",
    "TOKENS_TABLE",
    "USERS",
    "USERS_TABLE",
    "PasswordHasher",
    "hash_token",
    "iso",
    "shard_of",
]

# The bench's own tables on its moto_server: they hold exactly the users it seeds.
TABLE_PREFIX = "bench_"
USERS_TABLE = f"{TABLE_PREFIX}{USERS}"
EMAILS_TABLE = f"{TABLE_PREFIX}{EMAILS}"
SESSIONS_TABLE = f"{TABLE_PREFIX}{SESSIONS}"
TOKENS_TABLE = f"{TABLE_PREFIX}{TOKENS}"
# GET /api/users without ?limit=: the page the list scenarios ask for (one Scan of limit + 1).
PAGE_LIMIT: int = ListQuery.model_fields["limit"].default
# gunicorn.conf.py's threads per worker when WEB_THREADS is not set.
DEFAULT_THREADS = int(Config.WEB_THREADS)
# The cost `make serve` hashes at in development and production (testing lowers it).
BCRYPT_ROUNDS = int(Config.BCRYPT_ROUNDS)
# The raw boto3 ceilings call DynamoDB with the app's own timeouts and retries.
CONNECT_TIMEOUT = float(Config.DYNAMODB_CONNECT_TIMEOUT)
READ_TIMEOUT = float(Config.DYNAMODB_READ_TIMEOUT)
MAX_ATTEMPTS = int(Config.DYNAMODB_MAX_ATTEMPTS)
