"""The serving contract of a tfgen model: what sampling, export and evaluation call.

A mixin of `GenerativeModel`: `latent_dim`, `latent_batch` (latents from a
fixed seed), `sample_latent`, `generate`, `reconstruct` (models that
encode set `reconstructs`) and `serving_endpoints` (the SavedModel's named
signatures). `sample_images` draws a run's evaluation samples.
"""

from __future__ import annotations

from typing import Callable, Dict, Sequence, Tuple

import keras
import numpy as np
import tensorflow as tf

from tfgen.ops.batching import INFERENCE_BATCH_SIZE, map_batches

__all__ = ["EVAL_SAMPLE_SEED", "Servable", "sample_images"]

# The latents of every evaluation and study of a run: the same samples each time.
EVAL_SAMPLE_SEED = 31337


def sample_images(model, num: int, seed: int = EVAL_SAMPLE_SEED, batch_size: int = INFERENCE_BATCH_SIZE) -> np.ndarray:
    """`num` samples of a model from latents of a fixed seed: float32 [num, H, W, C] in [-1, 1].

    The latents are `model.latent_batch(num, seed)` (stateless), so two calls
    with the same seed give the same images.
    """
    z = model.latent_batch(num, seed)
    return map_batches(model.generate, z.numpy(), batch_size=batch_size)


class Servable:
    """Generation and serving of a tfgen model (a mixin; see the module docstring)."""

    reconstructs = False  # models with an encoder set this and implement `reconstruct`

    @property
    def latent_dim(self) -> int:
        return int(self.model_config.latent_dim)

    def latent_batch(self, n: int, seed: int) -> tf.Tensor:
        """`n` latents from a fixed integer seed (stateless: the same on every call),
        for evaluation and sampling tools."""
        return tf.random.stateless_normal([n, self.latent_dim], seed=[seed, 0])

    def sample_latent(self, n: int, seed=None) -> tf.Tensor:
        """Draws z ~ N(0, I), float32 [n, latent_dim]."""
        return keras.random.normal((n, self.latent_dim), seed=seed if seed is not None else self.seed_generator)

    def generate(self, z: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Images from latents: [batch, latent_dim] -> [batch, H, W, C] in [-1, 1]."""
        raise NotImplementedError

    def reconstruct(self, images: tf.Tensor) -> tf.Tensor:
        """Images -> reconstructions, both [batch, H, W, C] in [-1, 1] (when `reconstructs`)."""
        raise NotImplementedError(f"{self.name} does not reconstruct")

    def serving_endpoints(self) -> Dict[str, Tuple[Callable, Sequence[tf.TensorSpec], str]]:
        """Named SavedModel signatures: name -> (fn, input_signature, doc).

        `fn` returns a dict of named outputs. Every generative model serves
        `generate`; the exporter adds `serving_default` as its alias.
        """
        spec = tf.TensorSpec([None, self.latent_dim], tf.float32, name="z")

        def generate(z):
            return {"images": self.generate(z, training=False)}

        doc = (f"generate(z: float32 [batch, {self.latent_dim}]) -> "
               f"{{images: float32 [batch, {', '.join(map(str, self.image_shape))}] in [-1, 1]}}")
        return {"generate": (generate, [spec], doc)}
