"""Run the real ``threadvault`` command in a child process and measure it: wall time, CPU, peak memory."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

POLL_SECONDS = 0.05
HIGH_WATER = re.compile(rb"^VmHWM:\s+(\d+) kB", re.MULTILINE)


@dataclass(frozen=True)
class Measured:
    seconds: float
    cpu_seconds: float
    peak_mb: float


def threadvault(*args: str | Path) -> Measured:
    """Run ``python -m threadvault ARGS``; a failure raises with the end of its stderr.

    Peak memory is the child's own VmHWM, read while it runs: ``ru_maxrss`` of a
    child on Linux starts from the parent's size at fork, which would hide the child's.
    """
    command = [sys.executable, "-m", "threadvault", *map(str, args)]
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors)
        peak_kb = 0
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            peak_kb = max(peak_kb, _high_water_kb(child.pid))
            time.sleep(POLL_SECONDS)
        seconds = time.perf_counter() - started
        child.returncode = code = os.waitstatus_to_exitcode(status)
        if code not in (0, 1):  # 1: the job ran and reported failed inputs
            errors.seek(0)
            raise RuntimeError(f"{' '.join(command)} exited {code}: {errors.read()[-2000:].decode(errors='replace')}")
    return Measured(seconds, usage.ru_utime + usage.ru_stime, peak_kb / 1024)


def _high_water_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            found = HIGH_WATER.search(status.read())
    except OSError:  # it has just exited
        return 0
    return int(found[1]) if found else 0
