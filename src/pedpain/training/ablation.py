"""Does GAN augmentation help? The same model, the same subject-wise split, four arms:

- ``none``: no augmentation at all;
- ``classic``: the config's classic augmentation (rotation, crop, flip, photometric);
- ``gan``: GAN samples mixed into the training split, no classic augmentation;
- ``classic+gan``: both.

Each arm trains with seeds 0..S-1 (the split's seed is fixed, so every arm sees the same
training, validation and test subjects; only initialisation, order and augmentation
draws change). Differences between arms are paired by seed and summarised with a 95%
t-interval over seeds (training variability) and a bootstrap over test subjects of the
seed-averaged errors (test-set variability). The verdict is read from the MAE interval:
"no clear difference" whenever it contains zero.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

import pedpain
from pedpain.core.errors import UsageError
from pedpain.core.files import atomic_write_text
from pedpain.core.logging import get_logger
from pedpain.data.faces import FaceTable
from pedpain.models.gan_bundle import load_gan_folder
from pedpain.training.config import ExperimentConfig
from pedpain.training.folds import make_folds
from pedpain.training.run import run_experiment

log = get_logger(__name__)
ARMS = ("none", "classic", "gan", "classic+gan")
#: (treatment, control): what each comparison isolates.
COMPARISONS = (
    ("classic+gan", "classic", "GAN samples on top of classic augmentation"),
    ("gan", "none", "GAN samples alone"),
    ("classic", "none", "classic augmentation alone"),
)
METRICS = ("mae", "pcc", "auc")
NO_CLASSIC = {
    "rotation_deg": 0.0,
    "scale": 0.0,
    "translate": 0.0,
    "flip": False,
    "brightness": 0.0,
    "contrast": 0.0,
}


def arm_config(
    config: ExperimentConfig, arm: str, seed: int, samples: Path, ratio: float | None
) -> ExperimentConfig:
    augment = config.augment.model_dump()
    if "classic" not in arm:
        augment.update(NO_CLASSIC)
    augment["gan_samples"] = samples if "gan" in arm else None
    if ratio is not None:
        augment["gan_ratio"] = ratio
    train = {**config.train.model_dump(), "seed": seed}
    return config.model_copy(
        update={
            "augment": type(config.augment)(**augment),
            "train": type(config.train)(**train),
            "name": f"{config.name}-{arm}-seed{seed}",
        }
    )


def t_interval(diffs: list[float], level: float = 0.95) -> dict[str, Any]:
    d = np.asarray(diffs, dtype=float)
    d = d[np.isfinite(d)]
    out: dict[str, Any] = {"n": len(d), "mean": float(d.mean()) if len(d) else None}
    if len(d) < 2:
        return {**out, "sd": None, "ci95": None}
    sd = float(d.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, len(d) - 1)) * sd / math.sqrt(len(d))
    return {**out, "sd": sd, "ci95": [float(d.mean() - half), float(d.mean() + half)]}


def subject_bootstrap(
    per_subject: pd.DataFrame, treatment: str, control: str, n_boot: int = 2000, seed: int = 0
) -> dict[str, Any]:
    """per_subject: index subject, columns arm -> seed-averaged mean absolute error."""
    diff = (per_subject[treatment] - per_subject[control]).to_numpy(dtype=float)
    rng = np.random.default_rng(seed)
    boots = diff[rng.integers(0, len(diff), (n_boot, len(diff)))].mean(axis=1)
    return {
        "n_subjects": len(diff),
        "mean": float(diff.mean()),
        "ci95": [float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))],
    }


def verdict(ci: list[float] | None) -> str:
    """For MAE differences (treatment - control): lower is better."""
    if ci is None:
        return "undetermined (one seed: no interval)"
    if ci[1] < 0:
        return "improvement"
    if ci[0] > 0:
        return "worse"
    return "no clear difference"


def run_ablation(
    config: ExperimentConfig,
    table: FaceTable,
    gan_folder: Path,
    out: Path,
    seeds: int = 3,
    per_level: int = 50,
    ratio: float | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    from pedpain.training.gan import levels_of, resize_faces
    from pedpain.training.gan_quality import gan_quality
    from pedpain.training.synthetic import real_only, write_gan_samples

    if seeds < 1:
        raise UsageError("--seeds must be at least 1")
    folds = make_folds(config, table.rows)
    if len(folds) != 1:
        raise UsageError(
            f"the ablation needs one subject-wise split, this config makes {len(folds)} folds "
            "(use split.kind=holdout or pick one with split.folds=[NAME])"
        )
    gan = load_gan_folder(gan_folder)
    if gan.meta.get("target") != config.data.target:
        raise UsageError(
            f"the GAN makes {gan.meta.get('target')} levels, the experiment's target is "
            f"{config.data.target}"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot write to {out}: {exc.strerror or exc}") from None
    samples = out / "gan-samples"
    write_gan_samples(gan, samples, per_level, seed=0)

    runs: list[dict[str, Any]] = []
    errors: dict[str, list[pd.DataFrame]] = {arm: [] for arm in ARMS}
    for arm in ARMS:
        for seed in range(seeds):
            folder = out / "runs" / f"{arm}-seed{seed}"
            log.info("ablation run", extra={"arm": arm, "seed": seed})
            result = run_experiment(arm_config(config, arm, seed, samples, ratio), table, folder)[0]
            runs.append({"arm": arm, "seed": seed, "folder": str(folder), **result.metrics})
            pred = pd.read_csv(folder / "predictions.csv", dtype={"subject_id": str})
            pred["abs_error"] = (pred["prediction"] - pred["reference"]).abs()
            errors[arm].append(pred)

    table_runs = pd.DataFrame(runs)
    arms: dict[str, Any] = {}
    for arm in ARMS:
        part = table_runs[table_runs["arm"] == arm]
        arms[arm] = {
            m: {
                "mean": float(part[m].dropna().mean()) if part[m].notna().any() else None,
                "sd": float(part[m].dropna().std(ddof=1)) if part[m].notna().sum() > 1 else None,
                "per_seed": [None if pd.isna(v) else float(v) for v in part[m]],
            }
            for m in METRICS
            if m in part
        }
        arms[arm]["n_synthetic_train"] = int(part["n_synthetic_train"].iloc[0])
    per_subject = pd.DataFrame(
        {arm: pd.concat(errors[arm]).groupby("subject_id")["abs_error"].mean() for arm in ARMS}
    )
    comparisons = []
    for treatment, control, what in COMPARISONS:
        doc: dict[str, Any] = {"treatment": treatment, "control": control, "isolates": what}
        for m in METRICS:
            a = table_runs[table_runs["arm"] == treatment].set_index("seed")[m]
            b = table_runs[table_runs["arm"] == control].set_index("seed")[m]
            doc[m] = t_interval([float(x) for x in (a - b).dropna()])
        doc["mae_subject_bootstrap"] = subject_bootstrap(per_subject, treatment, control)
        doc["verdict"] = verdict(doc["mae"]["ci95"])
        comparisons.append(doc)

    # GAN quality, judged by a regressor trained on real faces only (classic arm, seed 0).
    fold = folds[0]
    train_rows = real_only(table.rows[table.rows["subject"].isin(fold.train)])
    real = resize_faces(table.store, train_rows["face"].to_numpy(), gan.spec.size)
    levels = levels_of(train_rows["target"].to_numpy(dtype=float), gan.spec.n_levels)
    quality = gan_quality(gan.generator_ema, out / "runs" / "classic-seed0", real, levels)

    report = {
        "disclaimer": pedpain.DISCLAIMER,
        "model": config.model.backbone,
        "input_size": config.model.input_size,
        "epochs": config.train.epochs,
        "split": {"kind": config.split.kind, "seed": config.split.seed, "fold": fold.name},
        "seeds": seeds,
        "gan": str(gan_folder),
        "gan_samples": str(samples),
        "gan_ratio": ratio if ratio is not None else config.augment.gan_ratio,
        "data": table.description,
        "synthetic_data": bool(table.preprocessing.get("synthetic", False)),
        "arms": arms,
        "comparisons": comparisons,
        "gan_quality": quality,
        "runs": runs,
    }
    atomic_write_text(out / "ablation.json", json.dumps(report, indent=2, default=str))
    atomic_write_text(out / "ablation.md", markdown_report(report))
    return report


def _fmt(v: Any, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def _ci(doc: dict[str, Any]) -> str:
    ci = doc.get("ci95")
    return (
        f"{_fmt(doc.get('mean'))} [{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci else _fmt(doc.get("mean"))
    )


def markdown_report(r: dict[str, Any]) -> str:
    lines = [
        "# GAN augmentation ablation",
        "",
        f"> {r['disclaimer']}",
        "",
        f"Model {r['model']} at {r['input_size']} px, {r['epochs']} epochs; one subject-wise "
        f"split ({r['split']['kind']}, seed {r['split']['seed']}); seeds 0-{r['seeds'] - 1}; "
        f"GAN share of training faces {r['gan_ratio']}. Data: {r['data']}.",
    ]
    if r["synthetic_data"]:
        lines.append("**The data are synthetic (phantom): these numbers test the software, "
                     "not the clinical value of GAN augmentation.**")  # fmt: skip
    lines += [
        "",
        "## Arms (test set, mean ± SD over seeds)",
        "",
        "| arm | MAE | PCC | AUC | synthetic training faces |",
        "|---|---|---|---|---|",
    ]
    for arm, doc in r["arms"].items():
        cells = [
            f"{_fmt(doc[m]['mean'])} ± {_fmt(doc[m]['sd'])}" if m in doc else "n/a" for m in METRICS
        ]
        lines.append(f"| {arm} | {' | '.join(cells)} | {doc['n_synthetic_train']} |")
    lines += [
        "",
        "## Differences (treatment - control; for MAE lower is better)",
        "",
        "| comparison | ΔMAE, 95% t-interval over seeds | ΔMAE, 95% bootstrap over subjects "
        "| ΔPCC | ΔAUC | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for c in r["comparisons"]:
        lines.append(
            f"| {c['treatment']} vs {c['control']} ({c['isolates']}) | {_ci(c['mae'])} | "
            f"{_ci(c['mae_subject_bootstrap'])} | {_ci(c['pcc'])} | {_ci(c['auc'])} | "
            f"**{c['verdict']}** |"
        )
    q = r["gan_quality"]
    lines += [
        "",
        "## GAN quality",
        "",
        f"Features and scores from {q['features']} ({q['encoder']}). No downloaded Inception "
        "weights exist here, so this is not the published FID: compare it only with the "
        "real-vs-real baseline and with other runs scored by the same encoder.",
        "",
        f"- Frechet distance, generated vs real: {_fmt(q['frechet_distance'])} "
        f"(real vs real baseline: {_fmt(q['frechet_real_baseline'])}; "
        f"{q['n_generated']} generated, {q['n_real']} real faces).",
        f"- Conditioning check (regressor trained on real faces scores generated faces): mean "
        f"absolute deviation from the requested level {_fmt(q['conditioning_mad'])} "
        f"(levels seen in training: {_fmt(q['conditioning_mad_seen_levels'])}), correlation "
        f"requested vs scored {_fmt(q['conditioning_r'])}; the same regressor on real "
        f"training faces: {_fmt(q['real_mad'])} (level-balanced), r {_fmt(q['real_r'])}.",
        *(
            [
                f"- Diversity within a level (generated / real mean pairwise distance): "
                f"{_fmt(q['diversity_ratio'])} (thumbnails "
                f"{_fmt(q['diversity_pixels']['ratio'])}, encoder features "
                f"{_fmt(q['diversity_features']['ratio'])}; target "
                f"{_fmt(q['diversity_target'])}: "
                f"{'met' if q['diversity_met'] else 'not met'})."
            ]
            if q.get("diversity_ratio") is not None
            else []
        ),
        "",
        'Verdicts come from the MAE t-interval over seeds; "no clear difference" means the '
        "interval contains zero. With few seeds and few test subjects, intervals are wide.",
        "",
    ]
    return "\n".join(lines)
