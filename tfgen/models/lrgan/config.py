"""The `model:` sections of LR-GAN and conditional LR-GAN: fields, defaults, ranges.

Free of TensorFlow, so that a config is validated (and a bad one refused)
before TensorFlow is imported; the registry imports it on first use.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Dict

from tfgen.config import field
from tfgen.models.dcgan.config import DCGANConfig


@dataclasses.dataclass
class LRGANConfig(DCGANConfig):
    """LR-GAN hyperparameters (paper and reference-code defaults)."""

    name: str = field("lrgan", help="Registered model name.")
    timesteps: int = field(2, min=1, max=8, help="T: background plus foregrounds; 1 is exactly DCGAN.")
    hidden_dim: int = field(100, min=1, help="LSTM hidden size (the noise per timestep is latent_dim).")
    min_object_scale: float = field(1.2, min=1.0, help="s: objects cover at most 1/s of the canvas; scales in [s, 2s].")
    max_shear: float = field(0.1, min=0.0, help="Bound of the rotation/shear terms (reference: 0.1; 0.3 for MNIST).")
    max_translation: float = field(1.0, min=0.0, help="Bound of the translations (normalized units).")
    pose_bound: str = field("straight_through", choices=["straight_through", "clamp", "smooth"],
                            help="straight_through: the reference's clip forward, gradient 1 backward (a value "
                                 "at its bound can still move back); clamp: the reference's clip (zero gradient "
                                 "outside the range); smooth: s + s*sigmoid / tanh squashing, which starts where "
                                 "the sigmoid is flat (d scale/du 0.021) and kept scales at their initial value.")
    use_transform: bool = field(True, help="Ablation §5.5: false pastes foregrounds with the identity pose.")
    use_mask: bool = field(True, help="Ablation §5.6: false pastes the warped appearance without alpha.")
    background_input: str = field("noise", choices=["noise", "lstm"],
                                  help="G_b's input: the raw z_0 (Algorithm 1 line 2, §5's T = 1 is DCGAN, the "
                                       "authors' code) or the LSTM's first state (one sentence of §4.1).")

    TINY: ClassVar[Dict[str, Any]] = {"g_filters": 8, "d_filters": 8, "latent_dim": 8, "hidden_dim": 8}


@dataclasses.dataclass
class ConditionalLRGANConfig(LRGANConfig):
    """Conditional LR-GAN hyperparameters (LR-GAN's plus the reconstruction)."""

    name: str = field("conditional_lrgan", help="Registered model name.")
    encoder_filters: int = field(64, min=1, help="Encoder's first-layer filters (doubling, as the discriminator).")
    reconstruction_loss: str = field("l1", choices=["l1", "l2"], help="Per-pixel reconstruction distance.")
    reconstruction_weight: float = field(10.0, min=0.0, help="lambda_rec: weight of the reconstruction term.")

    TINY: ClassVar[Dict[str, Any]] = {**LRGANConfig.TINY, "encoder_filters": 8}
