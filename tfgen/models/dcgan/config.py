"""The `model:` section of DCGAN: fields, defaults, ranges.

Free of TensorFlow, so that a config is validated (and a bad one refused)
before TensorFlow is imported; the registry imports it on first use.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Dict

from tfgen import config as config_lib
from tfgen.config import field


@dataclasses.dataclass
class DCGANConfig(config_lib.ModelConfig):
    """DCGAN hyperparameters (paper defaults)."""

    name: str = field("dcgan", help="Registered model name.")
    latent_dim: int = field(100, min=1, help="Length of z.")
    g_filters: int = field(64, min=1, help="Generator base filters (4x4 map has 8x).")
    d_filters: int = field(64, min=1, help="Discriminator's first-layer filters.")
    learning_rate: float = field(2e-4, min=0.0, help="Adam learning rate of both networks.")
    beta1: float = field(0.5, min=0.0, max=1.0, help="Adam beta1.")
    beta2: float = field(0.999, min=0.0, max=1.0, help="Adam beta2.")
    generator_batch: str = field("reuse", choices=["reuse", "fresh"],
                                 help="The generator step's fake batch: reuse the discriminator step's (the "
                                      "DCGAN and LR-GAN authors' code; one generator forward pass per "
                                      "iteration), or fresh (new noise and a second forward pass, as in "
                                      "Goodfellow et al.'s Algorithm 1).")

    weight_init: str = field("dcgan", choices=["dcgan", "reference"],
                             help="dcgan: N(0, 0.02) weights, N(1, 0.02) batch-norm scales (the DCGAN paper); "
                                  "reference: PyTorch's defaults before 1.2, U(+-1/sqrt(fan_in)) weights and "
                                  "U(0, 1) scales, what the LR-GAN authors' code ran with.")

    TINY: ClassVar[Dict[str, Any]] = {"g_filters": 8, "d_filters": 8}
