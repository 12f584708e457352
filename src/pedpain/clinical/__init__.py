"""Clinical knowledge: ages, the protocol's pain scales (Table 1), thresholds."""

from pedpain.clinical.age import format_age, parse_age
from pedpain.clinical.scales import (
    PainScale,
    denormalise,
    load_scales,
    normalise,
    recommended_scale,
    scale_by_name,
    scales_for_age,
)

__all__ = [
    "PainScale",
    "denormalise",
    "format_age",
    "load_scales",
    "normalise",
    "parse_age",
    "recommended_scale",
    "scale_by_name",
    "scales_for_age",
]
