"""The demo's study stages after the database: preprocessing, source training on a
UNBC-layout phantom, transfer to the children's phantom, and the evaluation report.

Each stage reads what earlier stages wrote (their summaries) and writes into its own
folder. Sizes are small in ``--quick`` mode and larger otherwise; both run on a CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pedpain import DISCLAIMER
from pedpain.core.errors import EnvironmentProblem, PedpainError
from pedpain.core.settings import load_settings
from pedpain.pipeline.stages import Stage


@dataclass(frozen=True)
class StudySizes:
    video_fps: float  # frames per second kept from the children's clips
    unbc_subjects: int
    unbc_frames: int
    backbone: str
    input_size: int
    source_epochs: int
    transfer_epochs: int
    batch: int
    gan_iterations: int


# ResNet-18 at 64-96 px learns the phantom's expressions within a CPU minute; the protocol's
# VGG-16 / ResNet-50 at 165 px are for GPUs (configs/), and MobileNetV3 trains poorly from
# scratch on a few hundred faces.
QUICK = StudySizes(5.0, 8, 10, "resnet18", 64, 6, 6, 32, 100)
# Sized so the full demo stays under 15 minutes on a 2-core CPU (measured: see README).
FULL = StudySizes(5.0, 16, 16, "resnet18", 80, 8, 8, 64, 800)


def _workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def _preprocess(sizes: StudySizes):  # type: ignore[no-untyped-def]
    def run(folder: Path, done: dict[str, Any]) -> dict[str, Any]:
        from pedpain.store import export_manifest, open_store
        from pedpain.vision.config import PreprocessConfig
        from pedpain.vision.pipeline import run_preprocess

        export = folder / "export"
        with open_store(_demo_settings(done), actor="pedpain-demo") as store:
            summary = export_manifest(store, export, with_media=True, reason="pedpain demo")
        config = PreprocessConfig(size=128, fps=sizes.video_fps)
        result = run_preprocess([export / "media"], folder / "faces", config, workers=_workers())
        if result["failed"] or not result["ok"]:
            raise PedpainError(
                f"preprocessing failed for {result['failed']} of {result['items']} files "
                f"({result['ok']} ok); see {folder / 'faces' / 'items.csv'}"
            )
        return {
            "export": str(export),
            "labels": str(export / "manifest.csv"),
            "faces": str(folder / "faces"),
            "items": result["items"],
            "ok": result["ok"],
            "rejected": result["rejected"],
            "frames_out": result["frames_out"],
            "manifest_items": summary["items"],
            "video_fps": sizes.video_fps,
        }

    return run


def _experiment(folder: Path, doc: dict[str, Any]) -> Path:
    path = folder / "experiment.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _train(config_path: Path, out: Path, done: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train as ``pedpain train`` does (``train_from_config``); with the demo database
    made (``done``), a model of its export is recorded there."""
    from pedpain.training import train_from_config

    settings = _demo_settings(done) if done and "03-database" in done else load_settings()
    run = train_from_config(
        config_path, [], out, settings=settings, progress=False, actor="pedpain-demo"
    )
    results = run.folds
    return {
        "model": str(out),
        **{
            k: results[0].metrics.get(k)
            for k in ("mae", "pcc", "auc", "n_subjects", "n_test_subjects")
        },
        "model_run": run.registered_model_run,
    }


def _source(sizes: StudySizes):  # type: ignore[no-untyped-def]
    def run(folder: Path, _: dict[str, Any]) -> dict[str, Any]:
        from pedpain.data.phantom.unbc import UnbcParams, generate_unbc

        tree = folder / "unbc-phantom"
        generate_unbc(
            tree,
            UnbcParams(
                subjects=sizes.unbc_subjects, frames_per_sequence=sizes.unbc_frames, seed=11
            ),
        )
        config = _experiment(
            folder,
            {
                "stage": "source",
                "name": "demo-source-unbc-phantom",
                "data": {
                    "kind": "unbc",
                    "root": str(tree),
                    "target": "pspi",
                    "pain_threshold": 1,
                    "cache": str(folder / "unbc-faces"),
                },
                "split": {"kind": "holdout", "test_fraction": 0.25},
                "model": {
                    "backbone": sizes.backbone,
                    "input_size": sizes.input_size,
                    "head_hidden": [128],
                },
                "train": {
                    "batch_size": sizes.batch,
                    "epochs": sizes.source_epochs,
                    "lr": 0.001,
                    "early_stopping_patience": 0,
                },
            },
        )
        return {"tree": str(tree), **_train(config, folder / "model")}

    return run


def _transfer(sizes: StudySizes):  # type: ignore[no-untyped-def]
    def run(folder: Path, done: dict[str, Any]) -> dict[str, Any]:
        pre = done["04-preprocess"]
        config = _experiment(
            folder,
            {
                "stage": "transfer",
                "name": "demo-transfer-oapc-phantom",
                "source_model": done["05-source"]["model"],
                "data": {
                    "kind": "faces",
                    "root": pre["faces"],
                    "labels": pre["labels"],
                    "target": "pain",
                    "pain_threshold": 3,
                },
                # The database export's 80/20 split, stratified by age band and pain level.
                "split": {"kind": "manifest"},
                "model": {
                    "backbone": sizes.backbone,
                    "input_size": sizes.input_size,
                    "head_hidden": [128],
                },
                "train": {
                    "batch_size": sizes.batch,
                    "epochs": sizes.transfer_epochs,
                    "lr": 0.001,
                    "freeze_backbone_epochs": max(1, sizes.transfer_epochs // 3),
                    "finetune_lr_factor": 0.1,
                    "early_stopping_patience": 0,
                },
            },
        )
        summary = _train(config, folder / "model", done)
        return summary

    return run


def _demo_settings(done: dict[str, Any]):  # type: ignore[no-untyped-def]
    """The demo database's settings, with absolute paths (also printed for the web app)."""
    db = Path(done["03-database"]["database"]).parent.parent.resolve()
    home = db / "home"
    return load_settings(
        home=home,
        database_url=f"sqlite:///{home / 'pedpain.db'}",
        key_file=db / "demo-media.key",
    )


def _gan(sizes: StudySizes):  # type: ignore[no-untyped-def]
    """A conditional GAN on the training children's faces (never the test children), and
    a sample grid per pain level; quick: a few hundred updates, enough to see faces form."""

    def run(folder: Path, done: dict[str, Any]) -> dict[str, Any]:
        from pedpain.training import train_from_config

        pre = done["04-preprocess"]
        config_path = _experiment(folder, {
            "name": "demo-gan",
            "data": {"kind": "faces", "root": pre["faces"], "labels": pre["labels"],
                     "target": "pain", "pain_threshold": 3},
            "split": {"kind": "manifest"},
            "gan": {"size": 64, "base_channels": 16},
            "train": {"batch_size": 32, "iterations": sizes.gan_iterations},
            "quality": {"encoder": done["06-transfer"]["model"], "per_level": 8},
        })  # fmt: skip
        run = train_from_config(config_path, [], folder / "gan", progress=False, kind="gan")
        metrics = run.gan_metrics
        return {
            "gan": str(folder / "gan"),
            "samples": str(folder / "gan" / "samples.png"),
            "iterations": sizes.gan_iterations,
            # The quality measures sit under "quality" in the GAN's metrics.json.
            **{
                k: (metrics.get("quality") or {}).get(k)
                for k in ("frechet_distance", "conditioning_mad", "diversity_ratio")
            },
        }

    return run


def _webapp(folder: Path, done: dict[str, Any]) -> dict[str, Any]:
    """Demo accounts in the demo database and the bedside model as the active model, so
    `pedpain serve` shows the demo data; passwords go to a 0600 file in this folder."""
    import secrets

    from pedpain.store import open_store
    from pedpain.study.accounts import create_user
    from pedpain.web.engines import set_active

    settings = _demo_settings(done)
    home = Path(settings.home)
    env = {
        "PEDPAIN_HOME": str(home),
        "PEDPAIN_DATABASE_URL": str(settings.database_url),
        "PEDPAIN_KEY_FILE": str(settings.key_file),
    }
    models = home / "models"
    models.mkdir(parents=True, exist_ok=True)
    bedside = models / "demo-bedside"
    if not bedside.exists():
        import shutil

        shutil.copytree(
            done["08-distill"]["model"],
            bedside,
            ignore=shutil.ignore_patterns("checkpoints", "logs"),
        )
    import json

    from pedpain.assess.backend import onnx_usable

    weights_sha = json.loads((bedside / "model.json").read_text("utf-8"))["sha256"]
    if onnx_usable(bedside, weights_sha) is None:
        raise EnvironmentProblem(f"{bedside} has no verified model.onnx for the web app")
    set_active(settings, bedside.name)
    logins = []
    with open_store(settings, actor="pedpain-demo", init=True) as store:
        for role in ("nurse", "rater", "researcher", "admin"):
            password = secrets.token_urlsafe(12)
            create_user(store, f"demo-{role}", role, password, actor="pedpain-demo")
            logins.append(f"demo-{role} {password}")
    login_file = folder / "demo-logins.txt"
    fd = os.open(login_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("# synthetic demo data only; user password\n" + "\n".join(logins) + "\n")
    command = (
        " ".join(f"{k}={v}" for k, v in env.items()) + f" {_pedpain_command()} serve --port 8000"
    )
    return {
        "command": command,
        "logins": str(login_file),
        "active_model": str(bedside),
        "backend": "onnx",
    }


def _pedpain_command() -> str:
    """How to call this very ``pedpain`` from the user's shell: the plain name when it is
    the one on PATH, else its path (``make demo`` runs ``.venv/bin/pedpain``, not on PATH)."""
    import shutil
    import sys

    here = Path(sys.executable).parent / "pedpain"
    found = shutil.which("pedpain")
    if not here.exists() or (found is not None and Path(found).resolve() == here.resolve()):
        return "pedpain"
    try:
        return str(here.relative_to(Path.cwd()))
    except ValueError:
        return str(here)


def _distill(sizes: StudySizes):  # type: ignore[no-untyped-def]
    def run(folder: Path, done: dict[str, Any]) -> dict[str, Any]:
        pre = done["04-preprocess"]
        config = _experiment(folder, {
            "stage": "distill", "name": "demo-bedside-distilled",
            "teacher_model": done["06-transfer"]["model"],
            "data": {"kind": "faces", "root": pre["faces"], "labels": pre["labels"],
                     "target": "pain", "pain_threshold": 3},
            "split": {"kind": "manifest"},
            # The student sees smaller faces than the teacher (about half the compute).
            # MobileNetV3 (the bedside choice with GPU-scale data) barely learns from a few
            # hundred faces on a CPU (r ~0.2 with its teacher here); ResNet-18 at 3/4 of the
            # teacher's input size keeps r ~0.9.
            "model": {"backbone": "resnet18", "input_size": sizes.input_size * 3 // 4,
                      "head_hidden": [64]},
            "train": {"batch_size": sizes.batch, "epochs": sizes.transfer_epochs, "lr": 0.001},
        })  # fmt: skip
        summary = _train(config, folder / "model", done)
        summary["onnx"] = _export_onnx(folder / "model")
        agreement = folder / "model" / "agreement.json"
        if agreement.is_file():
            import json

            summary["agreement_with_teacher"] = json.loads(agreement.read_text("utf-8"))
        return summary

    return run


def _export_onnx(model: Path) -> dict[str, Any]:
    """The bedside model exported to ONNX and verified against PyTorch (1e-4 on every
    output), so the examples and the web app on the demo data run the deployment path."""
    from pedpain.assess.backend import ONNX_FILE, export_onnx
    from pedpain.models.bundle import load_model_folder

    return export_onnx(load_model_folder(model), model / ONNX_FILE).to_dict()


def _examples(folder: Path, done: dict[str, Any]) -> dict[str, Any]:
    """Assess a few held-out children's photos and clips with the bedside model, on the
    scale that fits each child's age, as a nurse would."""
    import csv
    import json

    from pedpain.assess import Assessor

    export = Path(done["04-preprocess"]["export"])
    with (export / "manifest.csv").open(encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == "test"]
    picked: list[dict[str, str]] = []
    for kind in ("photo", "video"):
        picked += [r for r in rows if r["kind"] == kind][:2]
    results = []
    with Assessor(done["08-distill"]["model"], backend="onnx") as engine:
        for row in picked:
            age = f"{int(row['age_months'])}m"
            result = engine.assess(export / row["path"], age=age).to_dict()
            result["child"] = {
                "subject": row["subject_code"], "age": age, "time_point": row["time_point"],
                "nurse_bps": row["bps_score"], "bps_scale": row["bps_scale"],
            }  # fmt: skip
            results.append(result)
    path = folder / "assessments.json"
    path.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    return {
        "file": str(path),
        "assessments": len(results),
        "ok": sum(r["status"] == "ok" for r in results),
    }


def _evaluate(folder: Path, done: dict[str, Any]) -> dict[str, Any]:
    from pedpain.evaluation.model_eval import evaluate_model

    pre = done["04-preprocess"]
    result = evaluate_model(
        done["06-transfer"]["model"],
        pre["faces"],
        folder / "report",
        labels=pre["labels"],
        confounders=True,
    )
    d = result.document
    check = d.get("confounders") or {}
    return {
        "report": str(result.files["report"]),
        "metrics": str(result.files["metrics"]),
        "n": d["n"],
        "n_subjects": d["n_subjects"],
        "auc": d["auc"],
        "mae": d["mae"],
        "comparator_auc": (d["comparator"] or {}).get("auc"),
        "warnings": d["warnings"][:5],
        "confounders_passed": check.get("passed"),
        "confounders_failed": check.get("failed"),
        "confounder_auc": {k: v["auc"] for k, v in (check.get("per_confounder") or {}).items()},
        "disclaimer": DISCLAIMER,
    }


def study_stages(quick: bool) -> list[Stage]:
    sizes = QUICK if quick else FULL
    return [
        Stage(
            "04-preprocess",
            "faces from the photos and clips (export, preprocess)",
            _preprocess(sizes),
        ),
        Stage("05-source", "source model on a UNBC-layout phantom", _source(sizes)),
        Stage("06-transfer", "transfer to the children's phantom faces", _transfer(sizes)),
        Stage("07-gan", "GAN: synthetic pain faces per level (sample grid)", _gan(sizes)),
        Stage(
            "08-distill",
            "compact bedside model distilled from the transfer model",
            _distill(sizes),
        ),
        Stage(
            "09-evaluate",
            "evaluation report (AUC, sensitivity, ICC vs the nurses' BPS)",
            _evaluate,
        ),
        Stage("10-assess", "example bedside assessments on held-out children", _examples),
        Stage("11-webapp", "web app on the demo data (demo logins)", _webapp),
    ]
