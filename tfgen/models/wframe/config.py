"""The `model:` section of wFRAME (and FRAME, its beta = 0 case): fields, defaults, ranges.

Free of TensorFlow, so that a config is validated (and a bad one refused)
before TensorFlow is imported; the registry imports it on first use.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, ClassVar, Dict

from tfgen import config as config_lib
from tfgen.config import field
from tfgen.errors import ConfigError


# |∇_x Φ|² normalisation -> the factor applied to the per-image squared norm
# (D = H*W*C input dimensions, M = the number of chains).
GRADIENT_NORM_REDUCTIONS = ("per_pixel", "per_image", "summed")
# The default β (per pixel). The rule (tfgen/models/wframe/model.py): β about
# 0.05 / μ_max measured on the observed images, so that the β step stays a
# contraction on chains whose μ_max grows far above the data's (μ_max 0.36
# per pixel on real digits with the learned bank: β 0.14; 0.072 on brick:
# β 0.7; docs/wframe/RESULTS.md). 0.1 for banks not measured.
BETA = 0.1
# Before β left λ: `gradient_norm` {mean, sum} and a β that λ multiplied.
_LEGACY_GRADIENT_NORM = {"mean": "per_pixel", "sum": "per_image"}


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
    beta: float = field(BETA, min=0.0,
                        help="β: the JKO time step, 0 gives FRAME. Its step θ -= β/2 ((1-γ) P_{t-1} + γ P_t) is "
                             "not scaled by λ (Algorithm 1, line 14) and is a contraction of θ while "
                             "β·μ_max < 2 (logged as jko_contraction; see tfgen/models/wframe/model.py).")
    gradient_norm_reduction: str = field(
        "per_pixel", choices=list(GRADIENT_NORM_REDUCTIONS),
        help="Units of |∇_x Φ|² in the β terms: per_pixel (the squared norm divided by the H*W*C input "
             "dimensions, averaged over the chains), per_image (Algorithm 1's 1/M Σ_i |∇_x Φ(x_i)|²), "
             "or summed (Σ_i over the M chains). β scales inversely: per_image = per_pixel / (H*W*C).")
    contraction_iterations: int = field(
        2, min=0, help="Power iterations per learning iteration estimating μ_max, the top eigenvalue of the "
                       "β step's quadratic form (logged jko_curvature, and jko_contraction = β·μ_max); "
                       "0: not measured.")
    clip: float = field(0.0, min=0.0, help="Weight clipping: keep |θ| <= clip after each step (0: off).")
    synthesis_steps: int = field(200, min=1, help="Langevin steps of `generate` from a new start (evaluation).")
    init_noise: float = field(0.0, min=0.0,
                              help="Std (centred pixel units) of new starting points; 0 starts at the mean image.")

    TINY: ClassVar[Dict[str, Any]] = {"filter_bank": "random", "langevin_steps": 3, "num_chains": 4,
                                      "synthesis_steps": 3, "learning_rate": 1e-5, "beta": 6e-4,
                                      "contraction_iterations": 1}

    @classmethod
    def upgrade(cls, raw: Dict[str, Any], where: str = "") -> Dict[str, Any]:
        """Reads a section written before β left λ as it ran.

        Such a section has `gradient_norm` (mean | sum) and its θ step was
        λ [(H_obs − H_syn) − β/2 P]: the same run today is
        `gradient_norm_reduction` per_pixel | per_image with β·λ.
        """
        if not isinstance(raw, dict) or "gradient_norm" not in raw:
            return raw
        if "gradient_norm_reduction" in raw:
            raise ConfigError(f"{where}model.gradient_norm: an older key (its β was multiplied by λ); "
                              "with model.gradient_norm_reduction give only the new one")
        out = dict(raw)
        old = out.pop("gradient_norm")
        if old not in _LEGACY_GRADIENT_NORM:
            raise ConfigError(f"{where}model.gradient_norm: {old!r} is not one of {sorted(_LEGACY_GRADIENT_NORM)}")
        out["gradient_norm_reduction"] = _LEGACY_GRADIENT_NORM[old]
        fields = {f.name: f.default for f in dataclasses.fields(cls)}
        beta = float(out.get("beta", 60.0)) * float(out.get("learning_rate", fields["learning_rate"]))
        out["beta"] = beta
        logging.getLogger("tfgen").warning(
            "%smodel.gradient_norm=%s is from before β left λ: read as gradient_norm_reduction=%s, beta=%g "
            "(the old beta times learning_rate), the same training", where, old,
            out["gradient_norm_reduction"], beta)
        return out
