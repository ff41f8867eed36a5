"""`--profile NAME`: py-spy samples the servers during one scenario's window."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from bench.servers import BIN

SUFFIXES = {"flamegraph": "svg", "raw": "txt", "speedscope": "json"}


def record(
    targets: dict[str, Any],
    *,
    key: str,
    duration: float,
    folder: Path,
    form: str,
    gil_only: bool,
) -> None:
    """Sample each target process (and its children) with py-spy for `duration` seconds."""
    spy = BIN / "py-spy"
    if not spy.exists():
        raise RuntimeError("py-spy is not installed: pip install -r bench/requirements.txt")
    spies = []
    for name, process in targets.items():
        if process is None:
            raise RuntimeError(f"{name} is not running: nothing to profile")
        path = folder / f"profile-{key}-{name}.{SUFFIXES[form]}"
        command = [str(spy), "record", "--pid", str(process.pid), "--nonblocking"]
        command += ["--duration", str(max(1, int(duration))), "--rate", "100"]
        command += ["--format", form, "-o", str(path)]
        # --gil: only the thread holding the GIL, i.e. where Python spends CPU time.
        command += ["--gil"] if gil_only else []
        # gunicorn's workers are its children; the others serve in the process itself.
        command += ["--subprocesses"] if name == "gunicorn" else []
        spies.append(
            subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
        )
        print(f"\n    py-spy -> {path}", end="")
    for spy_process in spies:
        try:
            spy_process.wait(timeout=duration + 30)
        except subprocess.TimeoutExpired:
            spy_process.kill()
            spy_process.wait()
    print()
