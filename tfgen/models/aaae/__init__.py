"""AAAE (Xu, Keshmiri and Wang): adversarially approximated autoencoder.

Everything this method needs, by file::

  model.py     the keras.Model (Algorithm 1: autoencoder + patch discriminator, latent approximator by WGAN-GP)
  networks.py  its sub-networks
  config.py    its `model:` section (TensorFlow-free)
  studies.py   `tfgen interpolate` and `tfgen manipulate` over a loaded run
"""

from tfgen._lazy import lazy_attributes

__all__ = ["AAAE", "attribute_direction"]

# The model classes (and TensorFlow) load on first use: importing the package stays cheap.
__getattr__, __dir__ = lazy_attributes(__name__, {
    "AAAE": "tfgen.models.aaae.model",
    "attribute_direction": "tfgen.models.aaae.model",
})
