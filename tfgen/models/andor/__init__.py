"""The AND-OR network (Xing, Wu, Zhu and Wu): sparse generator by alternating back-propagation with an energy network.

Everything this method needs, by file::

  model.py     the keras.Model (ABP: Langevin inference of z, generator and energy updates)
  networks.py  the top-k generator and the energy network
  sparsity.py  the top-k sparsity layer
  losses.py    Eq. 15, 20 and 22
  basis.py     basis functions, most-used channels and the interpretability score
  ncc.py       normalised cross-correlation against training images (Table 4)
  tree.py      the AND-OR tree of one sample, as text and figures
  config.py    its `model:` section (TensorFlow-free)
"""

from tfgen._lazy import lazy_attributes

__all__ = ["AndOr"]

# The model classes (and TensorFlow) load on first use: importing the package stays cheap.
__getattr__, __dir__ = lazy_attributes(__name__, {"AndOr": "tfgen.models.andor.model"})
