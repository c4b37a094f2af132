"""wFRAME ("FRAME Revisited", Cai et al.): FRAME on pre-learned filters with Wasserstein (JKO) terms; FRAME is beta = 0.

Everything this method needs, by file::

  model.py        the keras.Model (Algorithm 1: Langevin synthesis, theta update)
  filter_bank.py  the fixed filter bank (VGG16 or learned per dataset, cached)
  losses.py       FRAME energies, responses and the JKO gradient-norm terms
  config.py       its `model:` section (TensorFlow-free)
"""

from tfgen._lazy import lazy_attributes

__all__ = ["WFRAME"]

# The model classes (and TensorFlow) load on first use: importing the package stays cheap.
__getattr__, __dir__ = lazy_attributes(__name__, {"WFRAME": "tfgen.models.wframe.model"})
