"""Networks: backbones through one registry, pain heads, temporal aggregation for clips."""

from pedpain.models.registry import (
    Backbone,
    InputSpec,
    available_backbones,
    create_backbone,
    register_backbone,
)

__all__ = ["Backbone", "InputSpec", "available_backbones", "create_backbone", "register_backbone"]
