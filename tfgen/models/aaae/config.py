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
    decoder_dense_units: int = field(1024, min=0, help="Units of the decoder's first FC layer, reshaped to 2x2x(N/4) "
                                                       "(Table III: 1024); 0: 2x2 x the encoder's last filters "
                                                       "(4096 at 32x32, runs written before this field).")
    mlp_units: int = field(512, min=1, help="Hidden units of the approximator and the latent critic.")
    mlp_layers: int = field(3, min=1, help="Hidden layers of the approximator and the latent critic.")
    adversarial_weight: float = field(0.001, min=0.0, help="lambda_1: weight of D_omega's term for the autoencoder.")
    adversarial_form: str = field("nonsaturating", choices=["nonsaturating", "logit"],
                                  help="D_omega's term for the autoencoder: nonsaturating, softplus(-D(x_rec)) "
                                       "per patch; logit, -D(x_rec) (Eq. 7 writes the raw D_omega; its gradient is "
                                       "larger by 1/sigmoid(-D) per patch).")
    gradient_penalty_weight: float = field(10.0, min=0.0, help="lambda_2 of WGAN-GP on the latent critic.")
    approximator_steps: int = field(2, min=1, help="k: critic + approximator steps per autoencoder step.")
    approximator_codes: str = field("fresh", choices=["fresh", "reuse"],
                                    help="Codes the k critic steps see: fresh (a new batch of x per step, "
                                         "encoded then, Algorithm 1 line 9; a step reads 1 + k batches) or "
                                         "reuse (step 1's codes of its batch: one batch per step).")
    approximator_update: str = field("simultaneous", choices=["simultaneous", "alternating"],
                                     help="simultaneous: the critic's and the approximator's gradients at the "
                                          "same weights and the same G_φ(z), then both steps (Algorithm 1 "
                                          "lines 11-13); alternating: the critic's step, then the approximator's "
                                          "on fresh z.")
    reconstruction_loss: str = field("l2", choices=["l2", "l1"], help="d(x, x_rec): per-pixel squared or absolute.")
    pretrain_steps: int = field(0, min=0, help="Autoencoder-only iterations before the approximator trains.")
    leaky_slope: float = field(0.1, min=0.0, max=1.0, help="LeakyReLU slope of both discriminators.")
    init_stddev: float = field(0.01, min=0.0, help="Weights ~ N(0, init_stddev^2); biases 0.")
    learning_rate: float = field(1e-4, min=0.0, help="Adam learning rate of all four optimizers.")
    beta1: float = field(0.5, min=0.0, max=1.0, help="Adam beta1.")
    beta2: float = field(0.999, min=0.0, max=1.0, help="Adam beta2 (the paper's 0.1 read as a typo).")

    @classmethod
    def upgrade(cls, raw: Dict[str, Any], where: str = "") -> Dict[str, Any]:
        """Reads a run recorded before the fields of `_ADDED` existed as it ran.

        A run's record (its config.yaml, model.json) lists every field of its
        time; a user's config lists a few. So a section holding every field
        of `_RECORDED_BEFORE` is such a record, and an added field it lacks
        takes the value that reproduces the old behaviour.
        """
        if not isinstance(raw, dict) or not _RECORDED_BEFORE <= set(raw):
            return raw
        return {**{k: v for k, v in _ADDED.items() if k not in raw}, **raw}

    # pretrain_steps 1: tiny runs go through both the gated and the training path.
    TINY: ClassVar[Dict[str, Any]] = {"base_filters": 4, "max_filters": 16, "mlp_units": 16, "latent_dim": 8,
                                      "code_dim": 8, "pretrain_steps": 1, "decoder_dense_units": 64}


# The fields of AAAE's model section before `decoder_dense_units`, `approximator_codes`,
# `approximator_update` and `adversarial_form` were added.
_RECORDED_BEFORE = frozenset({
    "name", "latent_dim", "code_dim", "base_filters", "max_filters", "mlp_units", "mlp_layers",
    "adversarial_weight", "gradient_penalty_weight", "approximator_steps", "reconstruction_loss",
    "pretrain_steps", "leaky_slope", "init_stddev", "learning_rate", "beta1", "beta2"})
# Fields added since, with the value that reproduces a run recorded before them.
_ADDED = {"decoder_dense_units": 0, "approximator_codes": "reuse", "approximator_update": "alternating",
          "adversarial_form": "nonsaturating"}
