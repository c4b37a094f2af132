"""The `model:` section of AAAE: fields, defaults, ranges.

Free of TensorFlow, so that a config is validated (and a bad one refused)
before TensorFlow is imported; the registry imports it on first use.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Dict

from tfgen import config as config_lib
from tfgen.config import field


@dataclasses.dataclass
class AAAEConfig(config_lib.ModelConfig):
    """AAAE hyperparameters (paper defaults, Appendix B)."""

    name: str = field("aaae", help="Registered model name.")
    latent_dim: int = field(64, min=1, help="Length of z, the approximator's input noise.")
    code_dim: int = field(128, min=1, help="Length of the autoencoder's code c.")
    base_filters: int = field(64, min=1, help="First-layer filters of encoder, decoder's last stage and D_omega.")
    max_filters: int = field(1024, min=1, help="Filters stop doubling here (1024 at 32x32 in Table III).")
    mlp_units: int = field(512, min=1, help="Hidden units of the approximator and the latent critic.")
    mlp_layers: int = field(3, min=1, help="Hidden layers of the approximator and the latent critic.")
    adversarial_weight: float = field(0.001, min=0.0, help="lambda_1: weight of D_omega's term for the autoencoder.")
    gradient_penalty_weight: float = field(10.0, min=0.0, help="lambda_2 of WGAN-GP on the latent critic.")
    approximator_steps: int = field(2, min=1, help="k: critic + approximator steps per autoencoder step.")
    reconstruction_loss: str = field("l2", choices=["l2", "l1"], help="d(x, x_rec): per-pixel squared or absolute.")
    pretrain_steps: int = field(0, min=0, help="Autoencoder-only iterations before the approximator trains.")
    leaky_slope: float = field(0.1, min=0.0, max=1.0, help="LeakyReLU slope of both discriminators.")
    init_stddev: float = field(0.01, min=0.0, help="Weights ~ N(0, init_stddev^2); biases 0.")
    learning_rate: float = field(1e-4, min=0.0, help="Adam learning rate of all four optimizers.")
    beta1: float = field(0.5, min=0.0, max=1.0, help="Adam beta1.")
    beta2: float = field(0.999, min=0.0, max=1.0, help="Adam beta2 (the paper's 0.1 read as a typo).")

    # pretrain_steps 1: tiny runs go through both the gated and the training path.
    TINY: ClassVar[Dict[str, Any]] = {"base_filters": 4, "max_filters": 16, "mlp_units": 16, "latent_dim": 8,
                                      "code_dim": 8, "pretrain_steps": 1}
