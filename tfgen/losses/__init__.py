"""Pure per-example loss functions, reduced by the train steps with `reduce_loss`."""

from tfgen.losses.gan import (
    logit_generator_loss,
    nonsaturating_discriminator_loss,
    nonsaturating_generator_loss,
)
from tfgen.losses.reconstruction import reconstruction_distance
from tfgen.losses.reduction import reduce_loss
from tfgen.losses.wasserstein import (
    gradient_penalty,
    wasserstein_critic_loss,
    wasserstein_generator_loss,
)

__all__ = ["gradient_penalty", "logit_generator_loss", "nonsaturating_discriminator_loss",
           "nonsaturating_generator_loss",
           "reconstruction_distance", "reduce_loss",
           "wasserstein_critic_loss", "wasserstein_generator_loss"]
