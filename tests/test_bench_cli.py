"""bench.cli: the options, their defaults and what they imply."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import parse_args


def test_parse_args_defaults_to_a_full_written_run():
    settings = parse_args([])

    assert settings.concurrency == 4
    assert (settings.warmup, settings.duration, settings.bcrypt_duration) == (2.0, 8.0, 15.0)
    assert settings.max_requests == 20_000
    assert (settings.workers, settings.threads) == (None, None)
    assert settings.write is True
    assert settings.retries == 2
    assert (settings.quiet_wait, settings.patience) == (30.0, 12.0)
    assert settings.only == frozenset()
    assert settings.profile is None
    assert settings.peer is False
    assert settings.import_rows is None  # each engine's own


def test_parse_args_reads_every_option():
    settings = parse_args(
        [
            "--concurrency=8",
            "--warmup=1",
            "--duration=3",
            "--bcrypt-duration=5",
            "--max-requests=100",
            "--workers=3",
            "--threads=2",
            "--retries=5",
            "--quiet-wait=4",
            "--patience=1.5",
            "--profile-dir=profiles",
            "--profile-format=raw",
            "--profile-gil",
            "--peer",
        ]
    )

    assert settings.concurrency == 8
    assert (settings.warmup, settings.duration, settings.bcrypt_duration) == (1.0, 3.0, 5.0)
    assert settings.max_requests == 100
    assert (settings.workers, settings.threads) == (3, 2)
    assert settings.retries == 5
    assert (settings.quiet_wait, settings.patience) == (4.0, 1.5)
    assert settings.profile_dir == Path("profiles")
    assert (settings.profile_format, settings.profile_gil) == ("raw", True)
    assert settings.peer is True
    assert settings.write is True


def test_parse_args_only_measures_a_selection_and_writes_nothing():
    settings = parse_args(["--only", " get_user, get_item ,,"])

    assert settings.only == frozenset({"get_user", "get_item"})
    assert settings.write is False


def test_parse_args_profile_makes_one_unwritten_attempt():
    settings = parse_args(["--profile", "login", "--retries", "3"])

    assert settings.profile == "login"
    assert settings.retries == 0
    assert settings.write is False


def test_parse_args_no_write_and_negative_waits():
    settings = parse_args(["--no-write", "--retries=-1", "--quiet-wait=-2", "--patience=-3"])

    assert settings.write is False
    assert (settings.retries, settings.quiet_wait, settings.patience) == (0, 0.0, 0.0)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--concurrency=0"], "must be positive"),
        (["--duration=0"], "must be positive"),
        (["--max-requests=0"], "must be positive"),
        (["--import-rows=0"], "--import-rows must be positive"),
        (["--only=get_user,nonsense"], "--only: unknown nonsense"),
        (["--only=peer_me"], "the peer's scenarios need --peer"),
        (["--profile=peer_login"], "the peer's scenarios need --peer"),
        (["--profile=get_item"], "invalid choice"),
    ],
)
def test_parse_args_refuses_what_cannot_run(argv, message, capsys):
    with pytest.raises(SystemExit) as exited:
        parse_args(argv)

    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_parse_args_takes_the_peer_scenarios_with_peer():
    settings = parse_args(["--peer", "--only=peer_me,me_bearer", "--profile=peer_me"])

    assert settings.only == frozenset({"peer_me", "me_bearer"})
    assert settings.profile == "peer_me"


def test_parse_args_measures_the_import_and_export_line_alone():
    settings = parse_args(["--only=raw_import,import,raw_scan_all,export", "--import-rows=500"])

    assert settings.only == frozenset({"raw_import", "import", "raw_scan_all", "export"})
    assert settings.import_rows == 500
    assert settings.write is False


def test_parse_args_measures_the_reset_timing_alone():
    settings = parse_args(["--only=reset_timing", "--engine=moto"])

    assert settings.only == frozenset({"reset_timing"})
    assert settings.engines == ("moto",)
    assert settings.write is False
