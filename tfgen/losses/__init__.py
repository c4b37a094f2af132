"""Pure per-example loss functions, reduced by the train steps with `reduce_loss`."""

from tfgen.losses.gan import (
    nonsaturating_discriminator_loss,
    nonsaturating_generator_loss,
)
from tfgen.losses.reduction import reduce_loss

__all__ = ["nonsaturating_discriminator_loss", "nonsaturating_generator_loss", "reduce_loss"]
