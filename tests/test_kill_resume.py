"""Kill tests: each batch command killed at moments its own progress chooses, then rerun.

What is asserted, command by command: the rerun finishes and equals an uninterrupted run;
no temporary file is left anywhere in the output; the killed process's workers (and the
multiprocessing resource tracker) do not outlive it; Ctrl-C stops a worker pool with exit
code 130. The data are tiny (2 phantom children, 0.4 s clips, a 2-epoch ResNet-18 on
64-pixel faces) so that the whole file stays within a few minutes on two cores.
The demo's kill test lives in test_demo.py (it reuses that test's one full demo run).
"""

from __future__ import annotations

import csv
import json
import shutil
import signal
import sqlite3
from pathlib import Path

import pytest
import torch

from kill_tools import (
    command_env,
    descendants,
    digest,
    kill_at_event,
    kill_when,
    run,
    still_running,
    temporaries,
)

pytestmark = pytest.mark.slow

PHANTOM = ["--subjects", "2", "--seed", "11", "--photo-size", "small", "--video-seconds", "0.4"]


def _done_subjects(partial: Path) -> int:
    return len(list((partial / ".done").glob("*.json")))


@pytest.fixture(scope="module")
def reference_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted phantom cohort (one process, no pool)."""
    out = tmp_path_factory.mktemp("reference") / "cohort"
    result = run(["phantom", "oapc", str(out), *PHANTOM])
    assert result.returncode == 0, result.stderr
    return out


def test_phantom_killed_mid_clip_and_mid_cohort_gives_the_same_bytes(
    reference_cohort: Path, tmp_path: Path
) -> None:
    out, partial = tmp_path / "cohort", tmp_path / "cohort.partial"
    args = ["phantom", "oapc", str(out), *PHANTOM, "--workers", "2"]

    # 1. While a worker is writing a clip: the workers go with the parent, and the
    #    half-written '.video.<pid>.tmp.mp4' they leave is what the rerun must sweep.
    first = kill_when(args, lambda: any(partial.rglob(".*.tmp.mp4")))
    assert first.returncode == -signal.SIGKILL and first.descendants
    assert still_running(first.descendants) == set()
    assert any(p.name.endswith(".tmp.mp4") for p in temporaries(partial))

    # 2. After the first child is finished, the second one half done.
    second = kill_when(args, lambda: _done_subjects(partial) >= 1)
    assert still_running(second.descendants) == set()

    done = run(args)
    assert done.returncode == 0, done.stderr
    assert temporaries(out) == [] and not partial.exists()
    assert digest(out) == digest(reference_cohort)


def test_phantom_pool_stops_on_ctrl_c_with_exit_130(tmp_path: Path) -> None:
    partial = tmp_path / "cohort.partial"
    args = ["phantom", "oapc", str(tmp_path / "cohort"), *PHANTOM, "--workers", "2"]
    stopped = kill_when(args, lambda: any(partial.rglob("*.jpg")), sig=signal.SIGINT)
    assert stopped.returncode == 130, stopped.stderr
    assert "pedpain: error: interrupted" in stopped.stderr and "Traceback" not in stopped.stderr
    assert still_running(stopped.descendants) == set()


# -- database import and withdrawal ----------------------------------------------------
def _db_env(home: Path, key: Path) -> dict[str, str]:
    env = command_env(PEDPAIN_HOME=str(home), PEDPAIN_KEY_FILE=str(key))
    env.pop("PEDPAIN_DATABASE_URL", None)  # SQLite in the data root
    return env


def _media_addresses(home: Path) -> set[str]:
    media = home / "media"
    return {p.name for p in media.rglob("*") if p.is_file() and ".staging" not in p.parts}


def _export(home: Path, key: Path, out: Path) -> dict[str, str]:
    result = run(["db", "export", "--out", str(out)], _db_env(home, key))
    assert result.returncode == 0, result.stderr
    return {name: (out / name).read_text() for name in ("manifest.csv", "subjects.csv")}


@pytest.fixture(scope="module")
def imported(reference_cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted import of the reference cohort (its data root, with the key)."""
    base = tmp_path_factory.mktemp("imported")
    key = base / "media.key"
    assert run(["db", "keygen", "--out", str(key)]).returncode == 0
    assert run(["db", "init"], _db_env(base / "home", key)).returncode == 0
    result = run(["db", "import", str(reference_cohort)], _db_env(base / "home", key))
    assert result.returncode == 0, result.stderr
    return base


def test_import_killed_before_and_after_commits_resumes_to_the_same_database(
    reference_cohort: Path, imported: Path, tmp_path: Path
) -> None:
    key = imported / "media.key"
    home = tmp_path / "home"
    env = _db_env(home, key)
    assert run(["db", "init"], env).returncode == 0
    args = ["db", "import", str(reference_cohort)]
    moments = [
        ("open", ".jpg", 3),  # reading the first child's photos, nothing committed yet
        ("os.rename", "/media/", 2),  # rows committed, media being moved into the store
        ("os.rename", "/media/", 9),
    ]
    for event, needle, n in moments:
        killed = kill_at_event(args, event, needle, n, env=env)
        assert killed.returncode == -signal.SIGKILL, (event, n, killed.stderr[-2000:])
    done = run(args, env)
    assert done.returncode == 0, done.stderr
    assert temporaries(home) == []
    assert _media_addresses(home) == _media_addresses(imported / "home")
    assert _export(home, key, tmp_path / "a") == _export(imported / "home", key, tmp_path / "b")
    assert run(["db", "verify"], env).returncode == 0


def _withdrawal_entry(home: Path, code: str) -> dict[str, object]:
    with sqlite3.connect(home / "pedpain.db") as db:
        rows = db.execute(
            "SELECT detail FROM audit_log WHERE action = 'subject.withdraw' AND subject_code = ?",
            (code,),
        ).fetchall()
    assert len(rows) == 1
    return json.loads(rows[0][0])


def test_withdrawal_killed_half_way_counts_every_erased_file(
    imported: Path, tmp_path: Path
) -> None:
    key, code = imported / "media.key", "PH-0001"
    straight_home, killed_home = tmp_path / "straight", tmp_path / "killed"
    shutil.copytree(imported / "home", straight_home)
    shutil.copytree(imported / "home", killed_home)
    args = ["db", "withdraw", code, "--reason", "guardian withdrew consent", "--json"]

    straight = run(args, _db_env(straight_home, key))
    assert straight.returncode == 0, straight.stderr
    total = json.loads(straight.stdout)["media_files_deleted"]
    assert total >= 4

    half = total // 2
    killed = kill_at_event(args, "os.remove", "/media/", half + 1, env=_db_env(killed_home, key))
    assert killed.returncode == -signal.SIGKILL
    assert len(_media_addresses(killed_home)) == len(_media_addresses(imported / "home")) - half
    resumed = run(args, _db_env(killed_home, key))
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["media_files_deleted"] == total and report["attempts"] == 2
    entry = _withdrawal_entry(killed_home, code)
    assert entry["media_files_deleted"] == total and entry["attempts"] == 2
    assert entry["media_files_deleted_by_last_attempt"] == total - half
    assert _withdrawal_entry(straight_home, code)["media_files_deleted"] == total
    assert _media_addresses(killed_home) == _media_addresses(straight_home)
    assert temporaries(killed_home) == []


# -- preprocessing --------------------------------------------------------------------
def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _outputs(out: Path) -> dict[str, object]:
    return {
        "items": _rows(out / "items.csv"),
        "frames": _rows(out / "frames.csv"),
        "faces": digest(out, skip=lambda p: p.suffix == ".json"),
    }


def test_preprocess_pool_killed_and_interrupted_resumes_to_the_same_faces(
    reference_cohort: Path, tmp_path: Path
) -> None:
    media = reference_cohort / "media"
    straight = run(["preprocess", str(media), "--out", str(tmp_path / "straight")])
    assert straight.returncode == 0, straight.stderr

    out = tmp_path / "out"
    args = ["preprocess", str(media), "--out", str(out), "--workers", "2"]
    parts = out / ".parts"

    killed = kill_when(args, lambda: len(list(parts.glob("*.json"))) >= 2)
    assert killed.descendants and still_running(killed.descendants) == set()
    before = len(list(parts.glob("*.json")))
    stopped = kill_when(
        args, lambda: len(list(parts.glob("*.json"))) >= before + 2, sig=signal.SIGINT
    )
    assert stopped.returncode == 130, stopped.stderr
    assert still_running(stopped.descendants) == set()

    done = run([*args, "--json"])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["reused"] >= before
    assert temporaries(out) == []
    assert _outputs(out) == _outputs(tmp_path / "straight")


# -- training -------------------------------------------------------------------------
def _metrics(folder: Path) -> list[dict[str, str]]:
    versions = sorted((folder / "logs" / "csv").iterdir())
    assert [v.name for v in versions] == ["version_0"], versions
    return _rows(versions[0] / "metrics.csv")


def _logged(rows: list[dict[str, str]]) -> list[tuple[str, str, tuple[str, ...]]]:
    """(epoch, step, the metrics present) per row: what was logged when, without values."""
    return sorted(
        (
            r["epoch"],
            r["step"],
            tuple(k for k, v in sorted(r.items()) if v and k not in ("epoch", "step")),
        )
        for r in rows
    )


def test_training_killed_mid_checkpoint_and_mid_epoch_resumes_into_one_log(
    tmp_path: Path,
) -> None:
    from test_training import make_unbc_tree, write_config

    tree = make_unbc_tree(tmp_path / "unbc", frames_per_seq=8)
    cfg = write_config(
        tmp_path / "c.yaml",
        tree,
        **{
            "train.epochs": 2,
            "trainer.log_every_n_steps": 1,
            "trainer.limit_train_batches": 3,
        },
    )
    straight = run(["train", "--config", str(cfg), "--out", str(tmp_path / "s")])
    assert straight.returncode == 0, straight.stderr[-2000:]

    out = tmp_path / "r"
    args = ["train", "--config", str(cfg), "--out", str(out)]
    checkpoints = out / "checkpoints"

    # 1. While the first checkpoint is being written (its temporary exists).
    first = kill_when(args, lambda: any(checkpoints.glob(".last.ckpt.*.tmp")))
    assert first.returncode == -signal.SIGKILL
    assert any(checkpoints.glob(".last.ckpt.*.tmp"))

    # 2. Resumed, then killed in the middle of an epoch the checkpoint does not hold: its
    #    rows are in metrics.csv and must not be there twice after the next resume.
    def mid_epoch() -> bool:
        if not (checkpoints / "last.ckpt").is_file():
            return False
        logged = list((out / "logs" / "csv").glob("version_*/metrics.csv"))
        return bool(logged) and any(
            r.get("epoch") == "1" for r in _rows(logged[0]) if logged[0].stat().st_size
        )

    second = kill_when(args, mid_epoch)
    assert second.returncode == -signal.SIGKILL
    assert not (out / "model.json").exists()

    done = run(args)
    assert done.returncode == 0, done.stderr[-2000:]
    a = torch.load(tmp_path / "s" / "model.pt", weights_only=True)
    b = torch.load(out / "model.pt", weights_only=True)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=1e-6), k
    assert temporaries(out) == []
    assert _logged(_metrics(out)) == _logged(_metrics(tmp_path / "s"))
    assert [v.name for v in (out / "logs" / "tb").iterdir()] == ["version_0"]


def test_descendants_are_found_through_the_process_table() -> None:
    """The helper the tests above rely on sees a real child of this process."""
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        import os

        assert child.pid in descendants(os.getpid())
    finally:
        child.kill()
        child.wait()
    assert still_running({child.pid}, within=5) == set()
