"""Stage ``distill``: a compact bedside model that learns a teacher's outputs.

The student (``model.backbone``, by default MobileNetV3-Large) sees the training faces
and learns the teacher model folder's intensity (mean squared error on the fraction of
the scale) and pain probability (binary cross-entropy against the teacher's
probability), the knowledge-distillation recipe. Faces are split by subject as in every
stage; on the held-out subjects the student's agreement with the teacher (MAE and
Pearson correlation of the intensities, agreement on pain / no pain) is written to the
model folder's ``agreement.json`` and ``metrics.json`` next to its own accuracy.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

import pedpain
from pedpain.core.errors import UsageError
from pedpain.core.files import (
    atomic_write,
    atomic_write_bytes,
    atomic_write_text,
    sweep_temporaries,
)
from pedpain.core.logging import get_logger
from pedpain.core.progress import track
from pedpain.models.bundle import FaceScorer, load_model_folder, save_model_folder
from pedpain.models.heads import PainHead, PainNet
from pedpain.models.inputs import model_input
from pedpain.models.registry import InputSpec, create_backbone
from pedpain.training.config import ExperimentConfig, dump_config
from pedpain.training.datamodule import take_faces

log = get_logger(__name__)


def _faces(store: Any, index: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(take_faces(store, np.asarray(index)))


CHECKPOINT = Path("checkpoints") / "distill-last.pt"


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """The state after a finished epoch, replaced atomically (a kill leaves the last)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def _load_checkpoint(path: Path, digest: str) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # a damaged file: start again rather than stop
        log.warning("ignoring unreadable distill checkpoint %s (%s)", path, exc)
        return None
    if state.get("config_digest") != digest:
        log.warning("distill checkpoint %s is from another configuration; starting again", path)
        return None
    return state


@torch.no_grad()
def _outputs(module: torch.nn.Module, store: Any, index: np.ndarray, batch: int) -> np.ndarray:
    """(N, 2): intensity fraction of the scale and pain probability."""
    module.eval()
    out = []
    for start in range(0, len(index), batch):
        value, prob = module(_faces(store, index[start : start + batch]))
        out.append(torch.stack([value, prob], dim=1).float().numpy())
    return np.concatenate(out) if out else np.zeros((0, 2), np.float32)


def agreement(student: np.ndarray, teacher: np.ndarray, target_max: float) -> dict[str, Any]:
    """Student against teacher on the same faces: intensities on the target scale."""
    s, t = student[:, 0], teacher[:, 0]
    corr = float(np.corrcoef(s, t)[0, 1]) if len(s) > 1 and s.std() > 0 and t.std() > 0 else None
    return {
        "n": len(s),
        "mae": float(np.abs(s - t).mean()) if len(s) else None,
        "mae_0_10": float(np.abs(s - t).mean() * 10 / target_max) if len(s) else None,
        "pearson_r": corr,
        "probability_mae": float(np.abs(student[:, 1] - teacher[:, 1]).mean()) if len(s) else None,
        "pain_agreement": float(((student[:, 1] >= 0.5) == (teacher[:, 1] >= 0.5)).mean())
        if len(s)
        else None,
    }


def run_distill(
    config: ExperimentConfig, table: Any, out_dir: Path, progress: bool = False
) -> list[Any]:
    """Train the student on the first subject-wise fold; returns [FoldResult]."""
    from pedpain.training.run import FoldResult, _split_rows, fold_metrics, make_folds, model_card

    if config.teacher_model is None:
        raise UsageError("the distill stage needs teacher_model: the teacher model folder")
    if (out_dir / "model.json").is_file():
        metrics = json.loads((out_dir / "metrics.json").read_text(encoding="utf-8"))
        return [FoldResult("distill", out_dir, metrics, reused=True)]
    teacher = load_model_folder(config.teacher_model)
    target_max = float(teacher.meta["target_max"])
    fold = make_folds(config, table.rows)[0]
    train_rows, test_rows = _split_rows(table.rows, fold, config.split.allow_identity_leak)
    if len(train_rows) == 0:
        raise UsageError("no training faces for the student")
    bs = config.train.batch_size
    teacher_scorer = FaceScorer(teacher)
    fit_index = train_rows["face"].to_numpy()
    test_index = test_rows["face"].to_numpy()
    soft = _outputs(teacher_scorer, table.store, fit_index, bs)
    soft[:, 0] /= target_max  # the student learns the fraction of the scale

    torch.manual_seed(config.train.seed)
    m = config.model
    spec = InputSpec(size=m.input_size, normalisation=m.normalisation)
    backbone = create_backbone(m.backbone, weights=m.weights, spec=spec)
    student = PainNet(backbone, PainHead(backbone.feature_dim, m.head_hidden, m.dropout))
    student = student.to(memory_format=torch.channels_last)
    optimiser = torch.optim.AdamW(
        student.parameters(), lr=config.train.lr, weight_decay=config.train.weight_decay
    )
    rng = np.random.default_rng(config.train.seed)
    steps = 0
    history: list[float | None] = []
    first_epoch = 0
    checkpoint = out_dir / CHECKPOINT
    sweep_temporaries(out_dir)  # a killed run's half-written state or outputs
    digest = hashlib.sha256(
        (dump_config(config) + str(teacher.meta.get("sha256")) + table.data_hash()).encode()
    ).hexdigest()
    resumed = _load_checkpoint(checkpoint, digest)
    if resumed is not None:  # a killed run: continue after its last finished epoch
        student.load_state_dict(resumed["student"])
        optimiser.load_state_dict(resumed["optimiser"])
        rng.bit_generator.state = resumed["numpy_rng"]
        torch.set_rng_state(resumed["torch_rng"])
        steps, history = int(resumed["steps"]), list(resumed["history"])
        first_epoch = int(resumed["epoch"]) + 1
        log.info("distill resumes after epoch %d", first_epoch)
    for epoch in range(first_epoch, config.train.epochs):
        student.train()
        order = rng.permutation(len(fit_index))
        losses = []
        batches = range(0, len(order), bs)
        for start in track(batches, f"distill epoch {epoch + 1}", len(batches)):
            pick = order[start : start + bs]
            faces = _faces(table.store, fit_index[pick])
            if config.augment.flip:
                flip = torch.from_numpy(rng.random(len(pick)) < 0.5)
                faces[flip] = faces[flip].flip(2)
            target = torch.from_numpy(soft[pick])
            frac, logit = student(model_input(faces, spec))
            loss = F.mse_loss(frac, target[:, 0]) + config.train.pain_loss_weight * (
                F.binary_cross_entropy_with_logits(logit, target[:, 1])
            )
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
            steps += 1
            if config.trainer.max_steps > 0 and steps >= config.trainer.max_steps:
                break
        history.append(float(np.mean(losses)) if losses else None)
        if config.trainer.max_steps > 0 and steps >= config.trainer.max_steps:
            break
        _save_checkpoint(
            checkpoint,
            {
                "epoch": epoch,
                "steps": steps,
                "history": history,
                "student": student.state_dict(),
                "optimiser": optimiser.state_dict(),
                "numpy_rng": rng.bit_generator.state,
                "torch_rng": torch.get_rng_state(),
                "config_digest": digest,
            },
        )
    student.eval()

    meta_base = {
        "name": config.name,
        "version": config.version,
        "backbone": m.backbone,
        "input_spec": spec.to_dict(),
        "head_hidden": m.head_hidden,
        "dropout": m.dropout,
        "target_max": target_max,
    }
    from pedpain.models.bundle import LoadedModel

    student_scorer = FaceScorer(LoadedModel(student, meta_base, out_dir))
    held_s = _outputs(student_scorer, table.store, test_index, bs)
    held_t = _outputs(teacher_scorer, table.store, test_index, bs)
    agree = agreement(held_s, held_t, target_max)
    pred = test_rows.drop(columns=[c for c in ("face", "weight") if c in test_rows]).copy()
    pred = pred.rename(columns={"subject": "subject_id", "target": "reference"})
    pred["prediction"], pred["probability"] = held_s[:, 0], held_s[:, 1]
    pred["teacher"] = held_t[:, 0]
    threshold = float(teacher.meta.get("pain_threshold", config.data.pain_threshold))
    metrics = fold_metrics(pred, target_max, threshold)
    metrics.update(
        {
            "fold": fold.name,
            "agreement_with_teacher": agree,
            "teacher": _teacher_ref(teacher),
            "epochs_run": len(history),
            "train_loss": history,
            "n_train_subjects": int(train_rows["subject"].nunique()),
            "n_test_subjects": int(test_rows["subject"].nunique()),
        }
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(out_dir / "predictions.csv", "w", newline="") as handle:
        pred.to_csv(handle, index=False)
    # Before model.json (written last by save_model_folder): a folder that counts as
    # complete always has its agreement.
    atomic_write_text(out_dir / "agreement.json", json.dumps(agree, indent=2))
    meta = {
        **meta_base,
        "stage": "distill",
        "target": teacher.meta.get("target", config.data.target),
        "pain_threshold": threshold,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "pedpain_version": pedpain.__version__,
        "data_hash": table.data_hash(),
        "data": table.description,
        "split": config.split.kind,
        "fold": fold.name,
        "subjects_train": sorted(map(str, train_rows["subject"].unique())),
        "subjects_val": [],
        "subjects_test": sorted(map(str, test_rows["subject"].unique())),
        "source_model": None,
        "teacher": _teacher_ref(teacher),
        "synthetic_data": bool(
            table.preprocessing.get("synthetic", False) or teacher.meta.get("synthetic_data")
        ),
    }
    card = model_card(config, meta, metrics) + _agreement_text(agree, teacher.meta)
    save_model_folder(
        out_dir, student, meta, dump_config(config), table.preprocessing, metrics, card
    )
    return [FoldResult("distill", out_dir, metrics, reused=False)]


def _teacher_ref(teacher: Any) -> dict[str, Any]:
    return {
        "name": teacher.meta.get("name"),
        "version": teacher.meta.get("version"),
        "sha256": teacher.meta.get("sha256"),
        "backbone": teacher.meta.get("backbone"),
        "folder": str(teacher.folder),
    }


def _agreement_text(agree: dict[str, Any], teacher: dict[str, Any]) -> str:
    def fmt(v: Any) -> str:
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    return (
        "\n## Agreement with the teacher (held-out subjects)\n"
        f"- Teacher: {teacher.get('name')} {teacher.get('version')} "
        f"({teacher.get('backbone')}, sha256 {str(teacher.get('sha256'))[:16]}).\n"
        f"- Faces: {agree['n']}; MAE {fmt(agree['mae'])} (target scale), "
        f"{fmt(agree['mae_0_10'])} on 0-10; Pearson r {fmt(agree['pearson_r'])}; "
        f"pain / no pain agreement {fmt(agree['pain_agreement'])}.\n"
    )


__all__ = ["agreement", "run_distill"]
