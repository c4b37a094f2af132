"""DCGAN (Radford, Metz and Chintala): LR-GAN's one-step case and the GAN baseline.

Everything this method needs, by file::

  model.py     the keras.Model (alternating D and G steps of the non-saturating GAN)
  config.py    its `model:` section (TensorFlow-free)
"""

from tfgen._lazy import lazy_attributes

__all__ = ["DCGAN"]

# The model classes (and TensorFlow) load on first use: importing the package stays cheap.
__getattr__, __dir__ = lazy_attributes(__name__, {"DCGAN": "tfgen.models.dcgan.model"})
