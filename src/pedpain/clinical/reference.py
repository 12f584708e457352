"""The session's reference label under the study's rules: a label exists only once the
set of ratings is complete, and an adjudication settles a disputed session.

One function so that the importer, the web app, the statistics and the exports cannot
disagree on what a session's label is or how many sessions have their 3 ratings.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from pedpain.clinical.consensus import RATERS_PER_SESSION, Consensus, consensus


def reference_consensus(regular: Sequence[float], adjudications: Sequence[float] = ()) -> Consensus:
    """The label from the raters' normalised (0-10) scores.

    - fewer than :data:`RATERS_PER_SESSION` regular ratings: no label yet ("pending"),
      whatever the scores so far (a label from one rater would be a different measure);
    - a complete set: the median, flagged for adjudication when the raters spread widely;
    - with adjudications (researchers, beyond the set, each with a reason): their median
      is the label and the flag is cleared; the raters' spread is kept for reporting.
    """
    scores = [float(s) for s in regular]
    if len(scores) < RATERS_PER_SESSION:
        spread = max(scores) - min(scores) if scores else None
        return Consensus(None, spread, len(scores), False)
    agreed = consensus(scores)
    if adjudications:
        settled = float(statistics.median(float(a) for a in adjudications))
        return Consensus(settled, agreed.spread, agreed.n_ratings, False)
    return agreed


def is_pending(n_regular: int) -> bool:
    """Whether a session still waits for ratings before it has a label."""
    return n_regular < RATERS_PER_SESSION
