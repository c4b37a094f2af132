"""GAN losses (Goodfellow et al. 2014), per example, on logits.

All functions take discriminator logits (any real value) and return one loss
per example, shape [batch]; logits with extra axes (e.g. patch
discriminators, [batch, h, w, 1]) are averaged over them.
"""

import tensorflow as tf


def _per_example(x: tf.Tensor) -> tf.Tensor:
    x = tf.convert_to_tensor(x)
    if x.shape.rank is not None and x.shape.rank > 1:
        return tf.reduce_mean(x, axis=list(range(1, x.shape.rank)))
    return x


def nonsaturating_discriminator_loss(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
    """Discriminator's logistic loss.

    L_D = -log sigmoid(D(x)) - log(1 - sigmoid(D(G(z))))
        = softplus(-D(x)) + softplus(D(G(z)))

    Args:
      real_logits: [batch, ...] logits on real images.
      fake_logits: [batch, ...] logits on generated images.

    Returns:
      [batch] per-example loss, >= 0.
    """
    return _per_example(tf.nn.softplus(-real_logits)) + _per_example(tf.nn.softplus(fake_logits))


def nonsaturating_generator_loss(fake_logits: tf.Tensor) -> tf.Tensor:
    """Generator's non-saturating loss (Goodfellow et al. 2014, Sec. 3).

    L_G = -log sigmoid(D(G(z))) = softplus(-D(G(z)))

    Args:
      fake_logits: [batch, ...] logits on generated images.

    Returns:
      [batch] per-example loss, >= 0.
    """
    return _per_example(tf.nn.softplus(-fake_logits))
