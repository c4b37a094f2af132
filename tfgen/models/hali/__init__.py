"""HALI (Belghazi et al.): hierarchical adversarially learned inference; ALI is its one-level case.

Everything this method needs, by file::

  model.py     the keras.Model (the ALI/HALI game, semi-supervised head)
  networks.py  encoder, decoder and joint discriminator stacks
  config.py    its `model:` section (TensorFlow-free)

Importing the package is cheap (no TensorFlow): the model class is imported
on first use.
"""

from tfgen._lazy import lazy_attributes

__all__ = ["HALI"]

__getattr__, __dir__ = lazy_attributes(__name__, {
    "HALI": "tfgen.models.hali.model",
})
