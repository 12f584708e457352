"""The model card written into every model folder (after Mitchell et al. 2019)."""

from __future__ import annotations

from typing import Any

import pedpain
from pedpain.training.config import ExperimentConfig


def model_card(config: ExperimentConfig, meta: dict[str, Any], metrics: dict[str, Any]) -> str:
    synthetic = meta.get("synthetic_data")
    lines = [
        f"# Model card: {config.name} {config.version}",
        "",
        f"> {pedpain.DISCLAIMER}",
        "",
        "## What it is",
        f"- Stage: {config.stage}; backbone `{config.model.backbone}` "
        f"({config.model.input_size} px, {config.model.normalisation} standardisation); "
        f"head {config.model.head_hidden}.",
        f"- Predicts pain intensity on 0-{config.target_max:g} ({config.data.target}) and the "
        f"probability of pain (target >= {config.data.pain_threshold:g}).",
        f"- Source model: {meta.get('source_model') or 'none (trained from its own data)'}.",
        "",
        "## Data",
        f"- {meta.get('data') or 'unspecified'}; data hash `{meta['data_hash'][:16]}`.",
        f"- Split: {config.split.kind}, fold {meta['fold']}; "
        f"{len(meta['subjects_train'])} training, {len(meta['subjects_val'])} validation and "
        f"{len(meta['subjects_test'])} test subjects, never shared between sets.",
    ]
    if meta.get("gan_faces_train"):
        lines.append(
            f"- {meta['gan_faces_train']} GAN-generated faces were added to the training "
            "split only; validation and test hold real (or phantom) faces alone."
        )
    if synthetic:
        lines.append(
            "- **Trained on synthetic (phantom) data: it proves the software, not "
            "clinical validity. Never use it on patients.**"
        )
    lines += [
        "",
        "## Held-out results",
        *(
            f"- {k}: {v:.4g}" if isinstance(v, float) else f"- {k}: {v}"
            for k, v in metrics.items()
            if k in ("n", "n_subjects", "mae", "mse", "pcc", "auc")
        ),
        "",
        "## Intended use and limits",
        "- Intended population: children after surgery, as in the OAPC-FEI protocol; a source "
        "model trained on adults (UNBC-McMaster) is a starting point for transfer only.",
        "- Not validated for clinical use. Faces that are occluded, blurred, far from frontal "
        "or of another person must be rejected by the quality gate before scoring.",
        "- Licence of the weights follows the licence of the training data (UNBC-McMaster "
        "weights may not be redistributed outside its licence).",
        "",
        "## Checksum",
        "- model.pt SHA-256: `{sha256}`",
        "",
    ]
    return "\n".join(lines)
