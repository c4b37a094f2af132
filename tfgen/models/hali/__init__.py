"""HALI (Belghazi et al.): hierarchical adversarially learned inference; ALI is its one-level case.

Everything this method needs, by file::

  model.py     the keras.Model (the ALI/HALI game, inference, inpainting, semi-supervised head)
  networks.py  encoder, decoder and joint discriminator stacks (Appendix A.1)
  losses.py    ALI's discriminator and encoder/decoder losses, the masked cross-entropy of §7.2
  uses.py      uses of the hierarchy: latent variations (§6.2), innovation (§6.3), their figures
  serving.py   the SavedModel signatures (encode, reconstruct per level, inpaint)
  studies.py   its scores for `tfgen evaluate` (per-level errors, §5.2 label preservation)
  config.py    its `model:` section (TensorFlow-free)
"""

from tfgen._lazy import lazy_attributes

__all__ = ["HALI"]

# The model classes (and TensorFlow) load on first use: importing the package stays cheap.
__getattr__, __dir__ = lazy_attributes(__name__, {"HALI": "tfgen.models.hali.model"})
