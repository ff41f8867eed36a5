"""What CI relies on: the browser tests cannot vanish from a run that requires them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import path_without_java

ROOT = Path(__file__).resolve().parent.parent


def run_without_the_tools(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The browser tests and a DynamoDB Local test in a fresh pytest, with no Chromium where
    it looks and a PATH with Python and no Java."""
    drop = ("REQUIRE_BROWSER", "REQUIRE_JAVA")
    environ = {k: v for k, v in os.environ.items() if k not in drop}
    environ.update(
        CHROMIUM_BINARY=str(ROOT / "no-such-chromium"),
        PATH=path_without_java(tmp_path / "bin"),
        **env,
    )
    java_test = "tests/test_dynamodb_local.py::test_it_listens_on_loopback_only"
    tests = ["tests/test_browser.py", java_test]
    options = ["-q", "-p", "no:cacheprovider", "-p", "no:xdist", "--continue-on-collection-errors"]
    return subprocess.run(
        [sys.executable, "-m", "pytest", *options, *tests],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_missing_browser_or_java_fails_the_run_when_required(tmp_path):
    result = run_without_the_tools(tmp_path, REQUIRE_BROWSER="1", REQUIRE_JAVA="1")

    assert result.returncode not in (0, pytest.ExitCode.NO_TESTS_COLLECTED), result.stdout
    assert "REQUIRE_BROWSER=1, but browser tests need Chromium" in result.stdout
    assert "REQUIRE_JAVA=1, but DynamoDB Local needs Java" in result.stdout


def test_missing_browser_or_java_is_a_skip_with_the_install_command_on_a_developer_machine(
    tmp_path,
):
    result = run_without_the_tools(tmp_path)

    assert result.returncode == 0, result.stdout
    assert "2 skipped" in result.stdout  # -ra shows why
    assert "apt-get install chromium chromium-driver" in result.stdout
    assert "apt-get install openjdk-17-jre-headless" in result.stdout


def test_ci_requires_the_browser_tests():
    script = (ROOT / ".ci" / "run").read_text()

    exported = "export REQUIRE_BROWSER=1 REQUIRE_JAVA=1"
    assert exported in script
    assert script.index(exported) < script.index("make test")
    assert "openjdk-17-jre-headless" in script
