"""The `model:` section of conditional LR-GAN: fields, defaults, ranges.

Free of TensorFlow, so that a config is validated (and a bad one refused)
before TensorFlow is imported; the registry imports it on first use.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Dict

from tfgen.config import field
from tfgen.models.lrgan_config import LRGANConfig


@dataclasses.dataclass
class ConditionalLRGANConfig(LRGANConfig):
    """Conditional LR-GAN hyperparameters (LR-GAN's plus the reconstruction)."""

    name: str = field("conditional_lrgan", help="Registered model name.")
    encoder_filters: int = field(64, min=1, help="Encoder's first-layer filters (doubling, as the discriminator).")
    reconstruction_loss: str = field("l1", choices=["l1", "l2"], help="Per-pixel reconstruction distance.")
    reconstruction_weight: float = field(10.0, min=0.0, help="lambda_rec: weight of the reconstruction term.")

    TINY: ClassVar[Dict[str, Any]] = {**LRGANConfig.TINY, "encoder_filters": 8}
