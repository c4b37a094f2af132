"""LR-GAN (Yang, Kannan, Batra and Parikh): layered recursive GAN and its conditional variant.

Everything this method needs, by file::

  model.py        LRGAN: Algorithm 1's train step, panels, serving
  networks.py     the layered recursive generator, its pose head, the conditional variant's image encoder
  conditional.py  ConditionalLRGAN: decomposition of real images and the reconstruction term
  config.py       both `model:` sections (TensorFlow-free)
  metrics.py      mask IoU, Adversarial Accuracy/Divergence, nearest neighbours, Hungarian pairs, poses
  studies.py      `tfgen neighbours`, `pair`, `adversarial` over loaded runs
"""

from tfgen._lazy import lazy_attributes

__all__ = ["LRGAN", "ConditionalLRGAN"]

# The model classes (and TensorFlow) load on first use: importing the package stays cheap.
__getattr__, __dir__ = lazy_attributes(__name__, {
    "LRGAN": "tfgen.models.lrgan.model",
    "ConditionalLRGAN": "tfgen.models.lrgan.conditional",
})
