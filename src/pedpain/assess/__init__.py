"""Pain assessment of photos, clips and live frame streams (the engine behind
``pedpain assess``, the web app and any hospital system).

    from pedpain.assess import Assessor, assess
    results = assess(["photo.jpg"], model="models/bedside", age="4y")
    with Assessor("models/bedside") as engine:
        one = engine.assess(["p1.jpg", "p2.jpg", "p3.jpg"], age="4y")   # 1-3 photos
        clip = engine.assess("clip.mp4", age="4y")
        stream = engine.stream(age="4y")                              # push frames
"""

from pedpain.assess.engine import Assessor, Stream, assess
from pedpain.assess.quality import REASONS, QualityThresholds
from pedpain.assess.result import AssessmentResult

__all__ = ["REASONS", "AssessmentResult", "Assessor", "QualityThresholds", "Stream", "assess"]
