"""Networks of the AND-OR network paper (Xing et al., Table 1).

`AndOrGenerator` — Z → FC (4x4xD) + ReLU + top-k over channels → blocks of
[nearest-neighbour upsample x2, Conv3x3+ReLU, Conv3x3+ReLU, top-k over
positions per channel] → Conv3x3 + tanh. With the paper's 64x64 setting:
FC 4x4x3200 (k = 8), blocks of 512/256/128/64 channels with k = 16, 64, 256
and none on the last block.

The generator runs one code path in two regimes:

* normal: ReLU and top-k decide their masks from the activations;
* frozen (Appendix A): given the masks recorded for one z, every ReLU and
  top-k is a fixed 0/1 multiplication, so the map from one layer's sparse
  activation to the pre-tanh output is affine; without the biases it is the
  linear map ψ^i whose images of one-hot inputs are the basis functions.

Layers are numbered as in Table 1: 1 is Z, 2 the FC output (4x4), 3 the
first block's output (8x8), ..., so `layer` 3 is the part level of Fig. 1.

`EnergyNetwork` — f(Y; Φ): Conv3x3+LReLU(0.2), then per stage [2x2 average
pool, Conv3x3+LReLU, Conv3x3+LReLU], then FC to one value.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import keras
import tensorflow as tf

from tfgen.models.andor.sparsity import group_size, top_k_mask

FIRST_LAYER = 2  # Table 1 numbering of the FC output


@keras.saving.register_keras_serializable(package="tfgen")
class AndOrGenerator(keras.Model):
    """The sparsely connected generator g(Z; Θ, k), pre-tanh and image outputs.

    Args:
      latent_dim: d, the size of Z.
      fc_channels: channels of the 4x4 FC output (3200 in Table 1).
      fc_top_k: k of the channel top-k after the FC layer (8); 0: none.
      channels: output channels of each upsampling block (512, 256, 128, 64).
      top_k: k of each block's spatial top-k (16, 64, 256, 0); 0: none.
      out_channels: image channels.
      sparsity: False gives the dense baseline (Eq. 1): no top-k anywhere.
      use_bias: biases in the FC and conv layers (Eq. 4 has them).
      base_size: spatial size of the FC output (4).
      padding: "zero" ("SAME" convolutions) or "reflect" (the borders
        mirrored, then "VALID"); both are linear, so basis functions stay
        exact.
      scheduled: the k's follow a schedule: a non-trainable `density` d in
        [0, 1] (set by the train step) makes every top-k keep
        k + round(d · (N − k)) of its N entries per group: d = 1 is dense,
        d = 0 the configured k.
    """

    def __init__(self, latent_dim: int, fc_channels: int, fc_top_k: int, channels: Sequence[int],
                 top_k: Sequence[int], out_channels: int, sparsity: bool = True, use_bias: bool = True,
                 base_size: int = 4, padding: str = "zero", scheduled: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.scheduled = bool(scheduled)
        # Starts dense: a scheduled network begins "densely connected" (the paper's abstract).
        self.density = (self.add_weight(name="density", shape=(), trainable=False, initializer="ones",
                                        aggregation="only_first_replica") if self.scheduled else None)
        if padding not in ("zero", "reflect"):
            raise ValueError(f"padding must be zero or reflect, got {padding!r}")
        self.padding = padding
        if len(top_k) != len(channels):
            raise ValueError(f"top_k has {len(top_k)} entries, channels {len(channels)}: one k per block")
        self.latent_dim, self.fc_channels, self.fc_top_k = int(latent_dim), int(fc_channels), int(fc_top_k)
        self.channels, self.top_k = [int(c) for c in channels], [int(k) for k in top_k]
        self.out_channels, self.sparsity, self.use_bias = int(out_channels), bool(sparsity), bool(use_bias)
        self.base_size = int(base_size)
        # He init: there is no normalisation layer, and ReLU plus top-k zero
        # most units, so the scale must be kept by the initialisation alone.
        init = keras.initializers.HeNormal(seed=None)
        self.fc = keras.layers.Dense(self.base_size ** 2 * self.fc_channels, use_bias=use_bias,
                                     kernel_initializer=init, name="fc")
        self.convs = []
        for b, ch in enumerate(self.channels):
            for j in range(2):
                conv = keras.layers.Conv2D(ch, 3, padding="same", use_bias=use_bias, kernel_initializer=init,
                                           name=f"block{b + 1}_conv{j + 1}")
                setattr(self, f"conv_{b}_{j}", conv)  # attributes: tracked by checkpoints
                self.convs.append(conv)
        self.to_image = keras.layers.Conv2D(self.out_channels, 3, padding="same", use_bias=use_bias,
                                            kernel_initializer=keras.initializers.GlorotUniform(), name="to_image")
        self.build((None, self.latent_dim))

    # -- geometry -------------------------------------------------------------
    @property
    def num_layers(self) -> int:
        """Layers with activations (Table 1 numbering FIRST_LAYER .. last)."""
        return 1 + len(self.channels)

    @property
    def layer_numbers(self) -> List[int]:
        return list(range(FIRST_LAYER, FIRST_LAYER + self.num_layers))

    @property
    def image_size(self) -> int:
        return self.base_size * 2 ** len(self.channels)

    def layer_shape(self, layer: int) -> tuple:
        """(H, W, C) of a layer's activation."""
        stage = self._stage(layer)
        size = self.base_size * 2 ** stage
        return (size, size, self.fc_channels if stage == 0 else self.channels[stage - 1])

    def layer_k(self, layer: int) -> int:
        """k of a layer's top-k (0: no top-k; always 0 for the dense baseline)."""
        stage = self._stage(layer)
        if not self.sparsity:
            return 0
        return self.fc_top_k if stage == 0 else self.top_k[stage - 1]

    def _stage(self, layer: int) -> int:
        if layer not in self.layer_numbers:
            raise ValueError(f"layer {layer}: the generator's layers are {self.layer_numbers} "
                             "(Table 1 numbering: 2 is the FC output)")
        return int(layer) - FIRST_LAYER

    # -- forward ----------------------------------------------------------------
    def build(self, input_shape):
        if self.built:
            return
        s = self.base_size
        self.fc.build((None, self.latent_dim))
        in_ch = self.fc_channels
        for b, ch in enumerate(self.channels):
            s *= 2
            self.convs[2 * b].build((None, s, s, in_ch))
            self.convs[2 * b + 1].build((None, s, s, ch))
            in_ch = ch
        self.to_image.build((None, s, s, in_ch))
        self.built = True

    def _conv(self, layer, x, bias: bool):
        if self.padding == "reflect":
            y = tf.nn.conv2d(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="REFLECT"), layer.kernel, 1, "VALID")
        else:
            y = tf.nn.conv2d(x, layer.kernel, 1, "SAME")
        return y + layer.bias if bias and layer.use_bias else y

    def _sparse(self, x, stage: int):
        k = self.layer_k(FIRST_LAYER + stage)
        if not k:
            return tf.ones_like(x)
        mode = "channel" if stage == 0 else "spatial"
        if self.scheduled:
            k = self._scheduled_k(k, group_size(x.shape, mode))
        return top_k_mask(x, k, mode)

    def _scheduled_k(self, k: int, n: int) -> tf.Tensor:
        """k + round(d · (n − k)): the k the schedule's density d gives a group of n, int32 scalar."""
        return k + tf.cast(tf.round(tf.cast(self.density, tf.float32) * (n - k)), tf.int32)

    def current_k(self, layer: int) -> int:
        """The k a layer's top-k keeps now (`layer_k`, or its scheduled value; 0: no top-k)."""
        k = self.layer_k(layer)
        if not k or not self.scheduled:
            return k
        h, w, c = self.layer_shape(layer)
        return int(self._scheduled_k(k, c if self._stage(layer) == 0 else h * w))

    def run(self, inputs, start_layer: Optional[int] = None, masks: Optional[Dict[str, tf.Tensor]] = None,
            bias: bool = True, record: bool = False, stop_layer: Optional[int] = None):
        """The generator from Z (or from one layer's sparse activation) to pre-tanh.

        Args:
          inputs: Z [batch, latent_dim], or, with `start_layer`, that layer's
            sparse activation [batch, H, W, C] (fed to the next layer).
          start_layer: Table 1 number of the layer `inputs` belongs to; None
            starts from Z.
          masks: frozen masks, name -> 0/1 tensor broadcastable to the
            activation (from a `record=True` run); None computes them.
          bias: add the biases (False gives the linear part of the frozen map).
          record: also return the masks and each layer's sparse activation.
          stop_layer: return that layer's sparse activation instead of the
            output (e.g. the children of a node one layer down).

        Returns:
          pre-tanh output [batch, H, W, out_channels] (or the `stop_layer`
          activation); with `record`, also
          {"masks": name -> mask, "activations": layer -> [batch, H, W, C]}.
        """
        frozen = masks is not None
        rec_masks, acts = {}, {}

        def gate(name, pre, relu=True, stage=None):
            # One ReLU or top-k: recorded masks when frozen, else from `pre`.
            if frozen:
                return pre * masks[name]
            if relu:
                m = tf.cast(pre > 0, pre.dtype)
            else:
                m = self._sparse(pre, stage)
            if record:
                rec_masks[name] = m
            return pre * m

        start = FIRST_LAYER - 1 if start_layer is None else int(start_layer)
        x = inputs
        if start < FIRST_LAYER:
            h = tf.matmul(x, self.fc.kernel)
            if bias and self.fc.use_bias:
                h = h + self.fc.bias
            h = tf.reshape(h, [-1, self.base_size, self.base_size, self.fc_channels])
            h = gate("relu_fc", h)
            x = gate("topk_2", h, relu=False, stage=0)
            acts[FIRST_LAYER] = x
            if stop_layer == FIRST_LAYER:
                return x
        for b in range(len(self.channels)):
            layer = FIRST_LAYER + 1 + b
            if layer <= start:
                continue
            x = tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)  # nearest-neighbour upsampling
            x = gate(f"relu_{layer}a", self._conv(self.convs[2 * b], x, bias))
            x = gate(f"relu_{layer}b", self._conv(self.convs[2 * b + 1], x, bias))
            x = gate(f"topk_{layer}", x, relu=False, stage=b + 1)
            acts[layer] = x
            if stop_layer == layer:
                return x
        out = self._conv(self.to_image, x, bias)
        if record:
            return out, {"masks": rec_masks, "activations": acts}
        return out

    def call(self, z, training=False):
        """Images tanh(g(z)): [batch, latent_dim] -> [batch, H, W, C] in [-1, 1]."""
        return tf.tanh(self.run(z))

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim, "fc_channels": self.fc_channels,
                "fc_top_k": self.fc_top_k, "channels": self.channels, "top_k": self.top_k,
                "out_channels": self.out_channels, "sparsity": self.sparsity, "use_bias": self.use_bias,
                "base_size": self.base_size, "padding": self.padding, "scheduled": self.scheduled}


def energy_network(image_shape: Sequence[int], first_channels: int, channels: Sequence[int],
                   name: str = "energy", init: str = "he") -> keras.Model:
    """f(Y; Φ): [batch, H, W, C] in [-1, 1] -> [batch] (Table 1, right column).

    Each of `channels` adds a stage [2x2 average pool, two Conv3x3+LReLU(0.2)],
    so the input size must be divisible by 2**len(channels).

    Args:
      init: "he" (He normal kernels) or "normal" (N(0, 0.01²), the
        cooperative-learning descriptor's init: f starts near 0 with a small
        input gradient). The paper gives none.
    """
    if init not in ("he", "normal"):
        raise ValueError(f"energy network: init must be 'he' or 'normal', got {init!r}")
    h = int(image_shape[0])
    if h % 2 ** len(channels):
        raise ValueError(f"energy network: {len(channels)} pooling stages need an image size divisible by "
                         f"{2 ** len(channels)}, got {h}")
    kernel_init = keras.initializers.HeNormal() if init == "he" else keras.initializers.RandomNormal(stddev=0.01)
    inputs = keras.Input(tuple(image_shape), name="images")

    def conv(x, ch, name):
        x = keras.layers.Conv2D(ch, 3, padding="same", kernel_initializer=kernel_init, name=name)(x)
        return keras.layers.LeakyReLU(0.2, name=name + "_lrelu")(x)

    x = conv(inputs, first_channels, "conv0")
    for i, ch in enumerate(channels):
        x = keras.layers.AveragePooling2D(2, name=f"pool{i + 1}")(x)
        x = conv(x, ch, f"conv{i + 1}a")
        x = conv(x, ch, f"conv{i + 1}b")
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(1, kernel_initializer="glorot_uniform" if init == "he" else kernel_init, name="fc")(x)
    return keras.Model(inputs, keras.layers.Reshape(())(out), name=name)
