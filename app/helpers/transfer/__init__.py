"""Users in and out of the tables in bulk: `flask users import FILE` and `flask users export FILE`.

`files`: the formats, reading and checking each row, writing a file safely; `importing`:
hashing and writing the rows; `exporting`: streaming the users out.
"""

from app.helpers.transfer.exporting import (
    EXPORT_COLUMNS,
    EXPORT_PAGE,
    HASH_COLUMNS,
    export_rows,
    export_users,
)
from app.helpers.transfer.files import (
    COLUMNS,
    FORMATS,
    MAX_LINE_BYTES,
    CheckedFile,
    ImportRow,
    Progress,
    ReportLine,
    check_file,
    format_of,
    no_progress,
    private_output,
)
from app.helpers.transfer.importing import RETRY_FOR, WRITERS, ImportResult, import_users

__all__ = [
    "COLUMNS",
    "EXPORT_COLUMNS",
    "EXPORT_PAGE",
    "FORMATS",
    "HASH_COLUMNS",
    "MAX_LINE_BYTES",
    "RETRY_FOR",
    "WRITERS",
    "CheckedFile",
    "ImportResult",
    "ImportRow",
    "Progress",
    "ReportLine",
    "check_file",
    "export_rows",
    "export_users",
    "format_of",
    "import_users",
    "no_progress",
    "private_output",
]
