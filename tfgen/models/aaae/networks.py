"""AAAE's five networks (Xu, Keshmiri & Wang, "Adversarially approximated
autoencoder for image generation and manipulation", Table III).

For 32x32 images with base 64 filters they are exactly Table III:

    E_theta  x -> c:   (64)4c1s - (128)4c2s - (256)4c2s-BN - (512)4c2s-BN -
                       (1024)4c2s-BN - FC 128;  ELU
    G_psi    c -> x:   FC 2x2x1024-BN - (512)4t2s - (256)4t2s - (128)4t2s -
                       (64)4t2s - (C)3c1s, tanh;  ELU
    D_omega  x -> patch logits: (64)4c2s - (128)4c2s - (256)4c2s - (512)4c2s -
                       (1)3c1s;  LeakyReLU 0.1, no BN  -> [batch, 2, 2, 1]
    G_phi    z -> c:   FC 512 x 3 (ELU) - FC 128
    D_gamma  c -> score: FC 512 x 3 (LeakyReLU 0.1) - FC 1

Other image sizes add or remove stride-2 stages "according to the image
resolution" (Appendix B): every stride-2 stage halves the map down to 2x2
(log2(S / 2) stages), filters double per stage from the base and stop at
`max_filters`. Reading of the table: its batch-norm column marks the three
deepest encoder convolutions and the decoder's fully connected layer only;
everything else, and every layer of D_omega, G_phi and D_gamma, has none.
Weights ~ N(0, 0.01), biases 0 (Appendix B).
"""

from __future__ import annotations

import math
from typing import List

import keras
from keras import layers

from tfgen.layers.dcgan_blocks import StridedConv2D


def _init(stddev: float):
    return keras.initializers.RandomNormal(0.0, stddev)


def stage_count(image_size: int) -> int:
    """Stride-2 stages from `image_size` down to a 2x2 map (a power of two >= 8)."""
    n = math.log2(image_size / 2)
    if image_size < 8 or n != int(n):
        raise ValueError(f"AAAE networks need a power-of-two image size >= 8, got {image_size}")
    return int(n)


def stage_filters(image_size: int, base_filters: int, max_filters: int) -> List[int]:
    """Filters of the encoder's stride-2 stages: base*2, base*4, ... capped at max_filters."""
    return [min(base_filters * 2 ** (i + 1), max_filters) for i in range(stage_count(image_size))]


def _bn(name: str, synchronized: bool):
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, synchronized=synchronized, name=name)


def encoder(image_size: int, channels: int, code_dim: int, base_filters: int = 64, max_filters: int = 1024,
            init_stddev: float = 0.01, sync_batch_norm: bool = False, name: str = "encoder") -> keras.Sequential:
    """E_theta: images [batch, S, S, C] in [-1, 1] -> codes [batch, code_dim] (unbounded)."""
    init = dict(kernel_initializer=_init(init_stddev), bias_initializer="zeros")
    net = [keras.Input((image_size, image_size, channels)),
           layers.Conv2D(base_filters, 4, 1, padding="same", name="conv0", **init), layers.ELU()]
    for i, f in enumerate(stage_filters(image_size, base_filters, max_filters)):
        # StridedConv2D: Keras' Conv2D; a wide last stage (to 2x2) runs as one product (faster on CPUs).
        net.append(StridedConv2D(f, 4, 2, padding="same", name=f"conv{i + 1}", **init))
        if i >= 1:  # Table III: BN from the third convolution on
            net.append(_bn(f"bn{i + 1}", sync_batch_norm))
        net.append(layers.ELU())
    net += [layers.Flatten(), layers.Dense(code_dim, name="code", **init)]
    return keras.Sequential(net, name=name)


def decoder(image_size: int, channels: int, code_dim: int, base_filters: int = 64, max_filters: int = 1024,
            init_stddev: float = 0.01, sync_batch_norm: bool = False, name: str = "decoder",
            dense_units: int = 0) -> keras.Sequential:
    """G_psi: codes [batch, code_dim] -> images [batch, S, S, C] in [-1, 1] (the encoder mirrored).

    Args:
      dense_units: units of the first FC layer, reshaped to 2x2x(units/4)
        (Table III: 1024, i.e. 2x2x256); 0: 2x2 x the encoder's last
        filters (2x2x1024 = 4096 at 32x32).
    """
    init = dict(kernel_initializer=_init(init_stddev), bias_initializer="zeros")
    filters = stage_filters(image_size, base_filters, max_filters)
    if dense_units and dense_units % 4:
        raise ValueError(f"decoder: dense_units={dense_units} must reshape to 2x2xN (a multiple of 4)")
    top = dense_units // 4 if dense_units else filters[-1]
    net = [keras.Input((code_dim,)),
           layers.Dense(2 * 2 * top, name="project", **init), layers.Reshape((2, 2, top)),
           _bn("project_bn", sync_batch_norm), layers.ELU()]
    # Upsampling stages mirror the encoder's: 2x2 -> S x S.
    for i, f in enumerate(filters[:-1][::-1] + [base_filters]):
        net += [layers.Conv2DTranspose(f, 4, 2, padding="same", name=f"deconv{i}", **init), layers.ELU()]
    net.append(layers.Conv2D(channels, 3, 1, padding="same", activation="tanh", name="to_image", **init))
    return keras.Sequential(net, name=name)


def patch_discriminator(image_size: int, channels: int, base_filters: int = 64, max_filters: int = 1024,
                        leaky_slope: float = 0.1, init_stddev: float = 0.01,
                        name: str = "patch_discriminator") -> keras.Sequential:
    """D_omega: images [batch, S, S, C] -> patch logits [batch, 2, 2, 1] (one per image region).

    Its stride-2 stages use base, 2*base, ... filters (capped), each
    halving the map down to 2x2, then a 3x3 convolution to one logit per
    position, whose receptive field is a patch of the image.
    """
    init = dict(kernel_initializer=_init(init_stddev), bias_initializer="zeros")
    net = [keras.Input((image_size, image_size, channels))]
    for i in range(stage_count(image_size)):
        f = min(base_filters * 2 ** i, max_filters)
        net += [StridedConv2D(f, 4, 2, padding="same", name=f"conv{i}", **init), layers.LeakyReLU(leaky_slope)]
    net.append(layers.Conv2D(1, 3, 1, padding="same", name="patch_logits", **init))
    return keras.Sequential(net, name=name)


def mlp(input_dim: int, hidden: int, depth: int, output_dim: int, activation: str, leaky_slope: float = 0.1,
        init_stddev: float = 0.01, name: str = "mlp") -> keras.Sequential:
    """`depth` fully connected hidden layers (ELU or LeakyReLU) and a linear output.

    G_phi is mlp(64, 512, 3, 128, "elu") and D_gamma is mlp(128, 512, 3, 1, "leaky_relu").
    """
    init = dict(kernel_initializer=_init(init_stddev), bias_initializer="zeros")
    net = [keras.Input((input_dim,))]
    for i in range(depth):
        net.append(layers.Dense(hidden, name=f"fc{i}", **init))
        net.append(layers.ELU() if activation == "elu" else layers.LeakyReLU(leaky_slope))
    net.append(layers.Dense(output_dim, name="out", **init))
    return keras.Sequential(net, name=name)
