"""The `model:` section of the AND-OR network: fields, defaults, ranges.

Free of TensorFlow, so that a config is validated (and a bad one refused)
before TensorFlow is imported; the registry imports it on first use.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Dict, List

from tfgen import config as config_lib
from tfgen.config import field


@dataclasses.dataclass
class AndOrConfig(config_lib.ModelConfig):
    """AND-OR network hyperparameters (defaults: Table 1, 64x64)."""

    name: str = field("andor", help="Registered model name.")
    latent_dim: int = field(100, min=1, help="d: size of Z.")
    fc_channels: int = field(3200, min=1, help="Channels of the 4x4 FC layer.")
    fc_top_k: int = field(8, min=0, help="k of the FC layer's top-k over channels (0: none).")
    channels: List[int] = field([512, 256, 128, 64], min=1,
                                help="Channels of each upsampling block; the image is 4 * 2**len(channels) a side.")
    top_k: List[int] = field([16, 64, 256, 0], min=0,
                             help="k of each block's top-k over positions, per channel (0: none).")
    padding: str = field("zero", choices=["zero", "reflect"],
                         help="The generator's 3x3 convolutions: zero (\"SAME\", the paper's networks) or "
                              "reflect (mirrored borders: zero padding makes border positions smaller, and "
                              "spatial top-k then keeps them disproportionately, 58-64% of layer-3 entries on "
                              "44% of the positions).")
    sparsity: bool = field(True, help="False: the dense baseline (Eq. 1), no top-k anywhere.")
    sparsity_schedule: str = field("fixed", choices=["fixed", "dense_start", "anneal"],
                                   help="How the top-k's k's start: fixed (the configured k from the first "
                                        "iteration, Table 1), dense_start (dense for sparsity_schedule_steps "
                                        "iterations, then k), anneal (k falls linearly from the whole group to "
                                        "k over sparsity_schedule_steps). Not in the paper's algorithm: two "
                                        "readings of its abstract's \"emerge from initially densely connected\".")
    sparsity_schedule_steps: int = field(0, min=0, help="Iterations of the dense start or of the anneal.")
    use_bias: bool = field(True, help="Biases in the generator (Eq. 4); basis functions are then exact up to "
                                      "a bias image.")
    energy_first_channels: int = field(64, min=1, help="Channels of the energy network's first conv.")
    energy_channels: List[int] = field([64, 128, 256, 512], min=1,
                                       help="Channels of each [avg-pool, 2 conv] stage of the energy network.")
    sigma: float = field(0.3, min=1e-6, help="σ of the observation noise (Eq. 1, 14).")
    step_size: float = field(0.1, min=0.0, help="δ of the latent Langevin dynamics (Eq. 13).")
    langevin_steps: int = field(30, min=1, help="l_G: Langevin steps per iteration on each example's latent.")
    inference_steps: int = field(300, min=1,
                                 help="Langevin steps from z = 0 when inferring the latents of new images.")
    reference_sigma: float = field(1.0, min=1e-6, help="σ_q of the Gaussian reference q (Eq. 17), image units.")
    energy_weight: float = field(1.0, min=0.0, help="Weight of H(Θ) (Eq. 22) against L(Θ) (Eq. 15); 0: plain ABP.")
    generator_reference_term: bool = field(False, help="Add the reference q's gradient |g(Ẑ)|²/(2σ_q²) to the "
                                                       "generator's objective (Eq. 21; not in Eq. 22 as printed: "
                                                       "it pulled samples to mid-grey).")
    energy_penalty: float = field(0.0, min=0.0, help="α of the squared-energy penalty α(f(Y)² + f(g(Ẑ))²) on the "
                                                    "energy network (not in the paper; 0: Eq. 20 alone, under "
                                                    "which f drifts; the shipped configs use 0.001).")
    energy_level_penalty: float = field(0.0, min=0.0, help="α_c of a penalty α_c((f(Y) + f(g(Ẑ)))/2)² on f's "
                                                          "level alone (not in the paper; Eq. 20 and 22 ignore "
                                                          "the level, which drifts; 0: none).")
    energy_revision_steps: int = field(0, min=0, help="Langevin steps revising the generator's samples under "
                                                      "P(Y; Φ) before the energy update (cooperative learning's "
                                                      "MCMC teaching, not in the paper; 0: Eq. 20 on g(Ẑ) directly).")
    energy_revision_step_size: float = field(0.002, min=0.0, help="Step δ_f of that revision (cooperative learning's "
                                                                  "descriptor step 0.002); its reference is σ_q.")
    energy_init: str = field("he", choices=["he", "normal"],
                             help="The energy network's conv and FC kernels: he (He normal) or normal "
                                  "(N(0, 0.01²), cooperative learning's descriptor).")
    generator_learning_rate: float = field(1e-4, min=0.0, help="Adam rate of Θ.")
    energy_learning_rate: float = field(1e-4, min=0.0, help="Adam rate of Φ.")
    beta1: float = field(0.5, min=0.0, max=1.0, help="Adam β1 of both networks.")
    beta2: float = field(0.999, min=0.0, max=1.0, help="Adam β2 of both networks.")
    latent_bank_size: int = field(0, min=0, help="Examples with a persistent latent (0: the training split's "
                                                 "size, filled in from the data section).")
    num_basis: int = field(16, min=1, help="Basis functions per layer in panels and the basis_functions export.")
    tree_nodes: int = field(3, min=1, help="AND-OR tree: top nodes at its first layer.")
    tree_children: int = field(3, min=1, help="AND-OR tree: children shown per node.")
    tree_layers: List[int] = field([3, 4, 5], min=2, help="AND-OR tree: consecutive layers, top first.")
    ncc_layer: int = field(3, min=2, help="Layer of the basis functions scored by template matching (Table 4).")

    # The default rates (1e-4) on purpose: top-k is discontinuous, and with
    # 1e-3 the float-level difference between one device and two replicas
    # flipped a near-tie in the MirroredStrategy parity test (latent bank
    # 8e-4 apart; 6e-7 at 1e-4 and with the dense baseline).
    TINY: ClassVar[Dict[str, Any]] = {
        "latent_dim": 8, "fc_channels": 16, "fc_top_k": 4, "channels": [8, 8, 4], "top_k": [8, 16, 0],
        "energy_first_channels": 4, "energy_channels": [4, 4, 4], "langevin_steps": 2, "inference_steps": 2,
        "num_basis": 4, "tree_nodes": 2, "tree_children": 2}
