"""Run the real ``threadvault`` command in a child process and measure it: wall time, CPU, peak memory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Measured:
    seconds: float
    cpu_seconds: float
    peak_mb: float


def threadvault(*args: str | Path, cwd: Path | None = None) -> Measured:
    """Run ``python -m threadvault ARGS``; its output is thrown away, a failure raises with its stderr."""
    command = [sys.executable, "-m", "threadvault", *map(str, args)]
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    assert child.stderr is not None
    errors = child.stderr.read()  # the child never blocks on a full pipe
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode not in (0, 1):  # 1: the job ran and reported failed inputs
        raise RuntimeError(f"{' '.join(command)} exited {child.returncode}: {errors.decode(errors='replace')[-2000:]}")
    return Measured(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)
