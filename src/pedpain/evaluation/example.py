"""A small synthetic predictions table with every optional column, made deterministically
from a seed: the README example (docs/examples/predictions_example.csv), the tests and
anyone trying ``pedpain evaluate predictions`` without a model.

It is invented data: children with an age, sex, study group and three postoperative time
points; a reference score (the consensus observer score, 0-10), a comparator (one nurse's
score, noisier) and a model prediction with its pain probability.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TIME_POINTS = ("T1", "T2", "T3")


def example_predictions(
    n_subjects: int = 24, frames_per_session: int = 3, n_folds: int = 4, seed: int = 7
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_subjects):
        age = int(rng.integers(1, 168))
        sex = "F" if rng.random() < 0.5 else "M"
        group = "experimental" if s % 2 else "control"
        base = rng.uniform(0.0, 5.0)
        for t, time_point in enumerate(TIME_POINTS):
            # Pain is highest right after surgery and fades over the time points.
            pain = float(np.clip(base + 2.0 - 1.5 * t + rng.normal(0, 1.0), 0, 10))
            reference = float(np.clip(round(pain), 0, 10))
            comparator = float(np.clip(round(pain + rng.normal(0, 1.3)), 0, 10))
            for f in range(frames_per_session):
                prediction = float(np.clip(pain + rng.normal(0, 1.4), 0, 10))
                probability = float(1 / (1 + np.exp(-(prediction - 3.5) * 1.3)))
                rows.append(
                    {
                        "subject_id": f"S{s + 1:03d}",
                        "session_id": f"S{s + 1:03d}-{time_point}",
                        "clip_id": f"S{s + 1:03d}-{time_point}-c1",
                        "frame_index": f,
                        "reference": reference,
                        "prediction": round(prediction, 3),
                        "probability": round(probability, 4),
                        "comparator": comparator,
                        "age_months": age,
                        "sex": sex,
                        "time_point": time_point,
                        "group": group,
                        "fold": s % n_folds,
                    }
                )
    return pd.DataFrame(rows)


def main() -> None:  # pragma: no cover - a maintenance helper
    import sys

    target = sys.argv[1] if len(sys.argv) > 1 else "docs/examples/predictions_example.csv"
    example_predictions().to_csv(target, index=False)


if __name__ == "__main__":  # pragma: no cover
    main()
