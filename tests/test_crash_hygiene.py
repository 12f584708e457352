"""The building blocks of crash hygiene: sweeping temporaries by name, and processes that
end with their parent (Linux parent-death signal, and the watchdog used elsewhere)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kill_tools import still_running
from pedpain.core.files import ATOMIC_TEMPORARY, atomic_write_text, sweep_temporaries


def test_sweep_removes_only_the_writers_own_temporaries(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    keep = [tmp_path / "a.csv", tmp_path / "tmp.txt", tmp_path / "sub" / "b.tmp.keep"]
    stale = [tmp_path / ".a.csv.x1y2.tmp", tmp_path / "sub" / ".video.123.tmp.mp4"]
    for path in keep + stale:
        path.write_text("x")
    (tmp_path / ".export.ab12.tmp").mkdir()  # a staging folder
    (tmp_path / ".export.ab12.tmp" / "inside.csv").write_text("x")
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir(exist_ok=True)
    (outside / "precious.csv").write_text("x")
    (tmp_path / ".link.tmp").symlink_to(outside)  # removed, never followed

    top = sweep_temporaries(tmp_path)
    assert {p.name for p in top} == {".a.csv.x1y2.tmp", ".export.ab12.tmp", ".link.tmp"}
    assert (tmp_path / "sub" / ".video.123.tmp.mp4").exists()  # not recursive by default
    deep = sweep_temporaries(tmp_path, (ATOMIC_TEMPORARY, ".*.tmp.mp4"), recursive=True)
    assert [p.name for p in deep] == [".video.123.tmp.mp4"]
    assert all(p.exists() for p in keep) and (outside / "precious.csv").exists()
    assert sweep_temporaries(tmp_path / "missing") == []


def test_atomic_write_temporaries_match_the_sweep_pattern(tmp_path: Path) -> None:
    import fnmatch
    import tempfile

    # atomic_write names its temporary with mkstemp(prefix=".<name>.", suffix=".tmp").
    fd, name = tempfile.mkstemp(prefix=".out.csv.", suffix=".tmp", dir=tmp_path)
    os.close(fd)
    assert fnmatch.fnmatchcase(Path(name).name, ATOMIC_TEMPORARY)
    atomic_write_text(tmp_path / "out.csv", "ok")
    assert sweep_temporaries(tmp_path) == [Path(name)]
    assert (tmp_path / "out.csv").read_text() == "ok"


CHILD = """
import os, sys, time
if {force_watchdog}:
    sys.platform = "watchdog-test"  # take the path used where prctl does not exist
from pedpain.core.workers import die_with_parent
print(die_with_parent(os.getppid()), flush=True)
time.sleep(120)
"""

PARENT = """
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", sys.argv[1]], stdout=subprocess.PIPE, text=True)
print(child.pid, child.stdout.readline().strip(), flush=True)
import time; time.sleep(120)
"""


@pytest.mark.parametrize("force_watchdog", [False, True], ids=["pdeathsig", "watchdog"])
def test_a_child_ends_when_its_parent_is_killed(force_watchdog: bool) -> None:
    if not sys.platform.startswith("linux") and not force_watchdog:
        pytest.skip("the parent-death signal is Linux only")
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, CHILD.format(force_watchdog=force_watchdog)],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        assert parent.stdout is not None
        pid_text, how = parent.stdout.readline().split()
        assert how == ("watchdog" if force_watchdog else "pdeathsig")
        child = int(pid_text)
        assert still_running({child}, within=0) == {child}
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        assert still_running({child}, within=10) == set()
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
