"""Kill a pedpain command at a moment chosen by its own progress, and inspect the remains.

Two ways to choose the moment:
- ``kill_when(args, ready)`` runs ``python -m pedpain ARGS`` and polls ``ready()`` (files
  that appear as the command progresses: a subject's ``.done`` marker, a half-written
  clip, a checkpoint being written), then signals the process;
- ``kill_at_event(args, event, needle, n)`` runs the command under an audit hook
  (``kill_at.py``) that SIGKILLs it from inside at the n-th audited operation whose
  arguments contain ``needle`` (the 5th media file renamed into the store, the 8th one
  deleted): exact moments that are too short to hit from outside.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PEDPAIN = [sys.executable, "-m", "pedpain"]
KILL_AT = Path(__file__).with_name("kill_at.py")
#: The names pedpain's writers stage to (core.files.atomic_write, phantom media, media
#: store rewrites, pack builds, preprocess parts).
TEMPORARY_NAMES = (".*.tmp", ".*.tmp.*", "*.part", ".packed-*")


def command_env(**extra: str) -> dict[str, str]:
    """The same thread counts in every run (float sums depend on them)."""
    return dict(
        os.environ,
        PEDPAIN_NO_PROGRESS="1",
        OMP_NUM_THREADS="2",
        MKL_NUM_THREADS="2",
        **extra,
    )


@dataclass
class Killed:
    returncode: int
    stderr: str
    descendants: set[int]  # the killed process's children (and theirs) at the kill


def _proc_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state) from /proc."""
    table: dict[int, tuple[int, str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()
        table[int(entry)] = (int(fields[1]), fields[0])
    return table


def descendants(pid: int) -> set[int]:
    table = _proc_table()
    found: set[int] = set()
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, (ppid, _) in table.items():
            if ppid == parent and child not in found:
                found.add(child)
                frontier.append(child)
    return found


def still_running(pids: set[int], within: float = 20.0) -> set[int]:
    """The pids that are still running (zombies count as ended) after up to ``within`` s."""
    deadline = time.monotonic() + within
    while True:
        table = _proc_table()
        alive = {p for p in pids if p in table and table[p][1] != "Z"}
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def _start(cmd: list[str], env: dict[str, str], err: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=err,  # type: ignore[arg-type]
        start_new_session=True,  # its own process group, as a terminal job would be
    )


def kill_when(
    args: list[str],
    ready: Callable[[], bool],
    *,
    env: dict[str, str] | None = None,
    sig: int = signal.SIGKILL,
    timeout: float = 600.0,
) -> Killed:
    """Run pedpain ARGS; once ``ready()`` holds, send ``sig`` (SIGINT goes to the whole
    process group, as Ctrl-C does; anything else to the parent only)."""
    with tempfile.TemporaryFile() as err:
        proc = _start([*PEDPAIN, *args], env or command_env(), err)
        deadline = time.monotonic() + timeout
        try:
            while not ready():
                if proc.poll() is not None:
                    err.seek(0)
                    raise AssertionError(
                        "the command ended before the moment to kill it: "
                        + err.read().decode(errors="replace")[-2000:]
                    )
                if time.monotonic() > deadline:
                    raise AssertionError("the moment to kill never came")
                time.sleep(0.002)
            kids = descendants(proc.pid)
            if sig == signal.SIGINT:
                os.killpg(proc.pid, sig)
            else:
                os.kill(proc.pid, sig)
            code = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        err.seek(0)
        return Killed(code, err.read().decode(errors="replace"), kids)


def kill_at_event(
    args: list[str], event: str, needle: str, n: int, *, env: dict[str, str] | None = None
) -> Killed:
    """Run pedpain ARGS and SIGKILL it at the n-th audit ``event`` mentioning ``needle``."""
    with tempfile.TemporaryFile() as err:
        proc = _start(
            [sys.executable, str(KILL_AT), event, needle, str(n), *args], env or command_env(), err
        )
        code = proc.wait(timeout=600)
        err.seek(0)
        return Killed(code, err.read().decode(errors="replace"), set())


def run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PEDPAIN, *args],
        env=env or command_env(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def temporaries(root: Path) -> list[Path]:
    """Files or folders under ``root`` named like a temporary, and staged media leftovers."""

    def is_temporary(path: Path) -> bool:
        if any(fnmatch.fnmatchcase(path.name, p) for p in TEMPORARY_NAMES):
            return True
        return path.is_file() and ".staging" in path.relative_to(root).parts

    return sorted(p for p in root.rglob("*") if is_temporary(p))


def digest(root: Path, skip: Callable[[Path], bool] = lambda p: False) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``root``."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not skip(path):
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out
