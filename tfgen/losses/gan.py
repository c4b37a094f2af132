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


def logit_generator_loss(fake_logits: tf.Tensor) -> tf.Tensor:
    """Generator's loss linear in the logit: L_G = -D(G(z)), averaged over extra axes.

    AAAE's Eq. 7 / Algorithm 1 line 4 (Xu, Keshmiri & Wang 2019) put the
    patch discriminator's raw output D_omega in the autoencoder's objective,
    not a log-sigmoid of it. As printed the term is +D_omega(x^i) of the real
    image, which does not depend on the autoencoder; the usable reading is
    the reconstruction's logit with the sign that makes it look real. Its
    gradient is -1 per patch logit, where the non-saturating loss gives
    -sigmoid(-D): the two differ by the factor sigmoid(-D) in (0, 1).

    Args:
      fake_logits: [batch, ...] logits on generated (reconstructed) images.

    Returns:
      [batch] per-example loss, any real value.
    """
    return -_per_example(fake_logits)

