"""What the research database holds: counts, screening log, labels, rater reliability."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from sqlalchemy import distinct, func, select

from pedpain import DISCLAIMER
from pedpain.clinical.consensus import ADJUDICATION_SPREAD, RATERS_PER_SESSION, reliability
from pedpain.clinical.eligibility import age_band
from pedpain.store import audit
from pedpain.store.models import (
    Analgesic,
    AuditEntry,
    Consent,
    Media,
    ModelRun,
    Rating,
    ScreeningRejection,
    SelfReport,
    Session,
    Subject,
)
from pedpain.store.store import Store


def collect_stats(store: Store, *, reason: str | None = None) -> dict[str, Any]:
    """Counts and reliability as one JSON-ready document (an audited read)."""
    with store.session() as db:

        def count(model: Any, *where: Any) -> int:
            return int(db.scalar(select(func.count()).select_from(model).where(*where)) or 0)

        def by(column: Any, *where: Any, join: Any = None) -> dict[str, int]:
            query = select(column, func.count()).group_by(column).where(*where)
            if join is not None:
                query = query.join(join)
            return {str(k): int(v) for k, v in db.execute(query)}

        enrolled = count(Subject)
        ages = Counter(age_band(a) for a in db.scalars(select(Subject.age_months)))
        rejected = count(ScreeningRejection)
        reasons: Counter[str] = Counter()
        for text in db.scalars(select(ScreeningRejection.reasons)):
            reasons.update(r["code"] for r in json.loads(text))
        withdrawn = int(
            db.scalar(
                select(func.count(distinct(AuditEntry.subject_code))).where(
                    AuditEntry.action == audit.WITHDRAW_ACTION
                )
            )
            or 0
        )
        # Voided sessions are kept for the audit but count nowhere; adjudications are
        # not ratings of the set (the same rules as the dashboard and the exports).
        live = Session.voided_at.is_(None)
        sessions_total = count(Session, live)
        per_session = Counter(
            int(n) for n in db.scalars(select(Session.n_ratings).where(live)) if n is not None
        )
        triples = [
            (str(s), str(r), float(v))
            for s, r, v in db.execute(
                select(Rating.session_id, Rating.rater, Rating.normalised)
                .join(Session)
                .where(live, Rating.adjudication.is_(False))
            )
        ]
        doc: dict[str, Any] = {
            "database": store.describe(),
            "synthetic": count(Subject, Subject.synthetic.is_(True)) > 0,
            "subjects": {
                "enrolled": enrolled,
                "by_group": by(Subject.group),
                "by_sex": by(Subject.sex),
                "by_age_band": dict(sorted(ages.items())),
                "synthetic": count(Subject, Subject.synthetic.is_(True)),
            },
            "screening": {
                "screened": enrolled + rejected,
                "rejected": rejected,
                "by_reason": dict(sorted(reasons.items())),
            },
            "withdrawn": withdrawn,
            "consents": count(Consent),
            "sessions": {
                "total": sessions_total,
                "by_time_point": by(Session.time_point, live),
                "with_3_ratings": sum(v for k, v in per_session.items() if k >= RATERS_PER_SESSION),
                "pending_ratings": sum(
                    v for k, v in per_session.items() if 0 < k < RATERS_PER_SESSION
                ),
                "voided": count(Session, Session.voided_at.is_not(None)),
                "adjudicated": int(
                    db.scalar(
                        select(func.count(distinct(Rating.session_id))).where(
                            Rating.adjudication.is_(True)
                        )
                    )
                    or 0
                ),
                "ratings_per_session": {str(k): v for k, v in sorted(per_session.items())},
                "needs_adjudication": count(Session, live, Session.needs_adjudication.is_(True)),
                "adjudication_spread_over": ADJUDICATION_SPREAD,
            },
            "media": {
                "photos": count(Media, Media.kind == "photo"),
                "videos": count(Media, Media.kind == "video"),
                "photos_below_20mp": count(
                    Media, Media.kind == "photo", Media.warning.is_not(None)
                ),
                "bytes": int(db.scalar(select(func.coalesce(func.sum(Media.size_bytes), 0))) or 0),
            },
            "ratings": {
                "total": len(triples),
                "by_role": by(Rating.role),
                "by_scale": by(Rating.scale),
                "blinded": count(Rating, Rating.blinded.is_(True)),
            },
            "self_reports": count(SelfReport),
            "analgesics": count(Analgesic),
            "model_runs": {
                "total": count(ModelRun),
                "affected_by_withdrawal": count(ModelRun, ModelRun.withdrawn_subjects > 0),
            },
        }
    doc["reliability"] = reliability(triples).to_dict()
    doc["disclaimer"] = DISCLAIMER
    store.audit("stats.read", reason=reason or "pedpain db stats")
    return doc
