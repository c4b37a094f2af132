"""The `model:` section of wFRAME (and FRAME, its beta = 0 case): fields, defaults, ranges.

Free of TensorFlow, so that a config is validated (and a bad one refused)
before TensorFlow is imported; the registry imports it on first use.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Dict

from tfgen import config as config_lib
from tfgen.config import field


@dataclasses.dataclass
class WFRAMEConfig(config_lib.ModelConfig):
    """wFRAME / FRAME hyperparameters (paper defaults: CelebA 64x64 setting)."""

    name: str = field("wframe", help="Registered model name.")
    filter_bank: str = field("learned", choices=["learned", "vgg16", "random"],
                             help="Filters of Φ: VGG-16's first 4 conv layers (ImageNet weights file), a bank tfgen "
                                  "learns on the labelled training data (offline), or random (tests only).")
    filter_bank_path: str = field("", help="vgg16: weights file (empty: the Keras cache). learned: a bank folder "
                                           "(empty: train one for data.* or reuse it from the cache).")
    filter_bank_steps: int = field(1500, min=1, help="learned: training steps of the bank's classifier.")
    theta_shape: str = field("shared", choices=["shared", "per_position"],
                             help="θ per filter (stationary patterns), or per filter and position (aligned objects).")
    reference_sigma: float = field(1.0, min=1e-6,
                                   help="σ of the Gaussian reference q, in centred pixel units (0..255 scale).")
    step_size: float = field(0.2, min=0.0, help="Langevin δ (CelebA 0.2, LSUN and CIFAR-10 0.15).")
    langevin_steps: int = field(50, min=1, help="L: Langevin steps per learning iteration.")
    num_chains: int = field(9, min=1, help="M: persistent synthesized chains (divisible by the replicas).")
    learning_rate: float = field(1e-3, min=0.0, help="λ: θ step size (CelebA, LSUN 1e-3; CIFAR-10 2e-3).")
    beta: float = field(60.0, min=0.0, help="β: weight of the JKO gradient-norm terms; 0 gives FRAME.")
    gradient_norm: str = field("mean", choices=["mean", "sum"],
                               help="|∇_x Φ|² of the β terms averaged over the H*W*C input dimensions, or summed.")
    clip: float = field(0.0, min=0.0, help="Weight clipping: keep |θ| <= clip after each step (0: off).")
    synthesis_steps: int = field(200, min=1, help="Langevin steps of `generate` from a new start (evaluation).")
    init_noise: float = field(0.0, min=0.0,
                              help="Std (centred pixel units) of new starting points; 0 starts at the mean image.")

    TINY: ClassVar[Dict[str, Any]] = {"filter_bank": "random", "langevin_steps": 3, "num_chains": 4,
                                      "synthesis_steps": 3, "learning_rate": 1e-5}
