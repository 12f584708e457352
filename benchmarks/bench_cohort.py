"""Benchmark: the researcher page's prospective-cohort section on a 2,000-session cohort
(500 children x 4 sessions, the protocol's target), against a floor measured in the same
run: the raw query of the sessions and their AI scores (what any dashboard must read).

Prints the page time, the floor and their ratio; exits 1 if the page takes 1 s or more
(the target on the development machine) so CI notices a regression.

    PYTHONPATH=src python benchmarks/bench_cohort.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

TARGET_S = 1.0


def main() -> int:
    from sqlalchemy import select

    from cohort_fixtures import fake_model_folder, fill_cohort
    from pedpain.core.settings import load_settings
    from pedpain.models.catalog import set_active
    from pedpain.store import open_store, write_new_key
    from pedpain.store.accounts import AiAssessment
    from pedpain.store.models import Session
    from pedpain.study.cohort import dashboard

    with tempfile.TemporaryDirectory(prefix="pedpain-bench-cohort-") as tmp:
        root = Path(tmp)
        write_new_key(root / "media.key")
        settings = load_settings(
            home=root / "home",
            key_file=root / "media.key",
            database_url=os.environ.get("PEDPAIN_BENCH_DATABASE_URL")
            or f"sqlite:///{root / 'home' / 'pedpain.db'}",
        )
        model = fake_model_folder(root / "home" / "models" / "bedside", "bedside")
        other = fake_model_folder(root / "home" / "models" / "older", "older")
        started = time.perf_counter()
        with open_store(settings, init=True, actor="bench") as store:
            fill_cohort(store, 500, [model, other], abstain_every=25, missing_rating_every=40,
                        missing_bps_every=30)  # fmt: skip
        set_active(settings, "bedside")
        print(f"built 500 children x 4 sessions, 2 models in {time.perf_counter() - started:.1f} s")
        with open_store(settings, actor="bench") as store:
            dashboard(store, settings)  # warm: imports and first connection
            floors, pages = [], []
            for _ in range(5):
                t0 = time.perf_counter()
                with store.session() as db:
                    db.execute(
                        select(Session.id, Session.consensus_score, Session.bps_normalised,
                               AiAssessment.score)
                        .join(AiAssessment, AiAssessment.session_id == Session.id)
                        .where(AiAssessment.model_sha256 == model.sha256)
                    ).all()  # fmt: skip
                floors.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                view = dashboard(store, settings)
                pages.append(time.perf_counter() - t0)
    floor, page = min(floors), min(pages)
    assert view["available"], view.get("message")
    print(f"sessions evaluated: {view['sessions']}, children: {view['children']}")
    print(f"raw query (floor): {floor * 1000:.1f} ms")
    median = sorted(pages)[2]
    print(f"dashboard section: {page * 1000:.1f} ms (best of 5; median {median * 1000:.1f} ms)")
    print(f"ratio page/floor: {page / floor:.1f}x; target page < {TARGET_S:.1f} s")
    return 0 if page < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
