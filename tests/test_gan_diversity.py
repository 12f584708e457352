"""Issue 20: the GAN's anti-collapse parts (discriminator augmentation, mode seeking) and
its within-level diversity measure."""

from __future__ import annotations

import numpy as np
import torch

from pedpain.models.gan import GanSpec, Generator, augment_for_critic, mode_seeking_ratio
from pedpain.training.gan_quality import (
    mean_pairwise_distance,
    thumbnails,
    within_level_diversity,
)


def test_critic_augmentation_is_reproducible_differentiable_and_off_at_zero() -> None:
    x = (torch.rand(6, 3, 32, 32) * 2 - 1).requires_grad_(True)
    a = augment_for_critic(x, 0.8, torch.Generator().manual_seed(3))
    b = augment_for_critic(x, 0.8, torch.Generator().manual_seed(3))
    c = augment_for_critic(x, 0.8, torch.Generator().manual_seed(4))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a, x)
    a.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert augment_for_critic(x, 0.0, torch.Generator()) is x
    # Always-on translation moves content: some border rows become zero padding.
    full = augment_for_critic(torch.ones(8, 3, 32, 32), 1.0, torch.Generator().manual_seed(1))
    assert (full == 0).any()


def test_mode_seeking_ratio_is_zero_for_a_collapsed_generator() -> None:
    z1, z2 = torch.randn(4, 8), torch.randn(4, 8)
    same = torch.ones(4, 3, 8, 8)
    assert float(mode_seeking_ratio(same, same, z1, z2)) == 0.0
    other = same.clone()
    other[:, :, :4] = -1
    assert float(mode_seeking_ratio(same, other, z1, z2)) > 0.5
    g = Generator(GanSpec(size=64, n_levels=3, z_dim=8, embed_dim=4, base_channels=4))
    level = torch.zeros(4, dtype=torch.long)
    ratio = mode_seeking_ratio(g(z1, level), g(z2, level), z1, z2)
    ratio.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in g.parameters())


def test_within_level_diversity_ratio() -> None:
    rng = np.random.default_rng(0)
    real = rng.normal(size=(60, 10))
    levels = np.repeat([0, 1, 2], 20)
    same_spread = rng.normal(size=(60, 10))
    doc = within_level_diversity(real, levels, same_spread, levels)
    assert 0.9 < doc["ratio"] < 1.1 and set(doc["per_level"]) == {0, 1, 2}
    collapsed = np.repeat(rng.normal(size=(3, 10)), 20, axis=0) + rng.normal(
        scale=0.01, size=(60, 10)
    )
    assert within_level_diversity(real, levels, collapsed, levels)["ratio"] < 0.05
    half = rng.normal(scale=0.5, size=(60, 10))
    assert 0.4 < within_level_diversity(real, levels, half, levels)["ratio"] < 0.6
    # Levels without two real faces are not judged.
    doc = within_level_diversity(real[:21], levels[:21], same_spread, levels)
    assert set(doc["per_level"]) == {0}
    assert mean_pairwise_distance(np.zeros((1, 3))) is None
    assert mean_pairwise_distance(np.array([[0.0, 0.0], [3.0, 4.0]])) == 5.0
    faces = rng.integers(0, 255, (2, 64, 64, 3), dtype=np.uint8)
    assert thumbnails(faces).shape == (2, 16 * 16 * 3)


def test_augment_setting_accepts_yaml_off() -> None:
    import pytest
    from pydantic import ValidationError

    from pedpain.training.gan import GanTrainConfig

    assert GanTrainConfig().augment == "adaptive" and GanTrainConfig().mode_seeking == 1.0
    assert GanTrainConfig(augment=False).augment == "none"  # YAML: augment: off
    assert GanTrainConfig(augment="off").augment == "none"
    with pytest.raises(ValidationError):
        GanTrainConfig(augment="sometimes")
