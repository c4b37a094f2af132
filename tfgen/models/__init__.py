"""Every tfgen method; importing this package registers them all."""

from tfgen.models import dcgan  # noqa: F401  (registers "dcgan")
from tfgen.models import lrgan  # noqa: F401  (registers "lrgan")
from tfgen.models import conditional_lrgan  # noqa: F401  (registers "conditional_lrgan")
from tfgen.models import aaae  # noqa: F401  (registers "aaae")
from tfgen.models import hali  # noqa: F401  (registers "hali"; levels: 1 is ALI)
from tfgen.models import wframe  # noqa: F401  (registers "wframe"; beta: 0 is FRAME)
from tfgen.models import andor  # noqa: F401  (registers "andor"; sparsity: false is the dense baseline)
from tfgen.models.base import GenerativeModel
from tfgen.models.registry import build_model, get_model_class, names

__all__ = ["GenerativeModel", "build_model", "get_model_class", "names"]
