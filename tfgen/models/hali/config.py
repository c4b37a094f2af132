"""The `model:` section of HALI (and ALI, its one-level case): fields, defaults, ranges.

Free of TensorFlow, so that a config is validated (and a bad one refused)
before TensorFlow is imported; the registry imports it on first use.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Dict

from tfgen import config as config_lib
from tfgen.config import field


# Every field of a HALI section recorded before labelled_batch_size existed.
_RECORDED_BEFORE = frozenset({
    "beta1", "beta2", "cycle_weight", "d_filters", "d_normalization", "dropout", "dropout_layers", "filters",
    "inpaint_iterations", "input_dropout", "input_noise", "labelled_examples", "latent_branch", "latent_dim",
    "learning_rate", "levels", "metric_examples", "name", "supervised_weight", "weight_norm_init", "z1_channels",
    "z1_stride"})


@dataclasses.dataclass
class HALIConfig(config_lib.ModelConfig):
    """HALI hyperparameters (paper §4 and Appendix A.1; ALI's reference code where the paper is silent)."""

    name: str = field("hali", help="Registered model name.")
    levels: int = field(2, choices=[1, 2], help="Latent levels: 2 is HALI (z1 map, z2 vector); 1 is ALI (z only).")
    latent_dim: int = field(256, min=1, help="Length of z2, the top latent (prior N(0, I)); ALI's z with levels 1.")
    z1_channels: int = field(64, min=1, help="Channels of the z1 feature map (unused with levels 1).")
    z1_stride: int = field(2, choices=[1, 2, 4, 8],
                           help="Image side / z1 side: 2 gives 16x16 z1 at 32x32 (paper), 4 gives 16x16 at 64x64.")
    filters: int = field(64, min=1, help="Encoder/decoder channels at full resolution (x2 per halving, at most x8).")
    d_filters: int = field(64, min=1, help="Discriminator x-branch channels at full resolution; head has 16x.")
    dropout: float = field(0.5, min=0.0, max=0.95, help="Discriminator dropout rate on hidden layers' inputs.")
    input_dropout: float = field(0.2, min=0.0, max=0.95,
                                 help="Discriminator dropout rate on layers fed an input (x; the z1 join).")
    input_noise: float = field(0.2, min=0.0, help="Std of the Gaussian noise on encoder and discriminator inputs.")
    dropout_layers: str = field("every_third", choices=["every_third", "every", "before_latents", "none"],
                                help="Where the discriminator drops out: every_third (HALI §4, improved-GAN: "
                                     "input_dropout on the layers fed x or the z1 join, dropout before every "
                                     "third layer), every (before every layer), before_latents (every_third on "
                                     "the layers that see x alone, none once a latent has joined: not in the "
                                     "paper; dropped latents hide the x-z pairing from D), none.")
    weight_norm_init: str = field("data", choices=["data", "none"],
                                  help="The discriminator's weight norm: data (Salimans & Kingma's data-dependent "
                                       "init on the first training batch, as the improved-GAN discriminator of "
                                       "HALI's appendix) or none (g = 1, bias 0: activations shrink layer by layer).")
    d_normalization: str = field("weight_norm", choices=["weight_norm", "batch_norm"],
                                 help="The discriminator's convolutions: weight_norm (HALI's Appendix A.1, the "
                                      "improved-GAN discriminator: each pair judged alone) or batch_norm (ALI's "
                                      "reference discriminator: batch norm after every convolution but the "
                                      "first, D called once on the real and generated pairs together so its "
                                      "batch statistics mix both; not in HALI).")
    latent_branch: str = field("none", choices=["none", "ali"],
                               help="The discriminator's top latent: none (joins the head as it is, HALI's "
                                    "Appendix A.1) or ali (first through a D(z) branch of two dense layers, "
                                    "ALI's own D(x) / D(z) / D(x, z) structure; meant for levels 1).")
    cycle_weight: float = field(0.0, min=0.0,
                                help="Not in ALI or HALI: weight of an explicit l2 cycle term, mean((x - G(z1))^2) "
                                     "with z1 the encoder's sample (ALICE's, Li et al. 2017), added to the "
                                     "encoder and decoder's loss. 0 (default) is the paper's purely adversarial "
                                     "game; ALI's reconstructions then keep neither pixels nor class at CPU "
                                     "budgets (docs/hali/RESULTS.md).")
    learning_rate: float = field(1e-4, min=0.0, help="Adam learning rate of all three networks.")
    beta1: float = field(0.5, min=0.0, max=1.0, help="Adam beta1.")
    beta2: float = field(0.999, min=0.0, max=1.0,
                         help="Adam beta2 (ALI's table prints 1e-3, i.e. 1 - beta2 in an old convention).")
    metric_examples: int = field(32, min=0,
                                 help="Examples of each replica's batch whose reconstruction metrics train_step "
                                      "tracks (0: all); they cost inference passes (about a third of a step "
                                      "for the whole batch), no gradients.")
    inpaint_iterations: int = field(4, min=0, max=100,
                                    help="Level-1 refinements after the top-level fill when inpainting (§6.1).")
    labelled_examples: int = field(0, min=0,
                                   help="Semi-supervised (§7.2): the first N training examples by index are "
                                        "labelled and a softmax head on z2 learns from them; 0 turns it off.")
    labelled_batch_size: int = field(100, min=0,
                                     help="Semi-supervised: labelled examples drawn (uniformly, with "
                                          "replacement) from the N at every step; their mean cross-entropy "
                                          "joins the loss. 0: only the labelled examples each shuffled batch "
                                          "holds (their sum over the global batch).")
    supervised_weight: float = field(1.0, min=0.0,
                                     help="Weight of the labelled cross-entropy in the encoder and decoder's "
                                          "loss.")

    @classmethod
    def upgrade(cls, raw: Dict[str, Any], where: str = "") -> Dict[str, Any]:
        """Reads a run recorded before `labelled_batch_size` existed as it ran (labels read in-batch: 0).

        A run's record (config.yaml, model.json) lists every field of its
        time, a user's config a few: a section holding every other field is
        such a record.
        """
        if not isinstance(raw, dict) or "labelled_batch_size" in raw or not _RECORDED_BEFORE <= set(raw):
            return raw
        return {**raw, "labelled_batch_size": 0}

    TINY: ClassVar[Dict[str, Any]] = {"filters": 4, "d_filters": 4, "latent_dim": 8, "z1_channels": 4}
