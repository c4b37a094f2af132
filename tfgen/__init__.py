"""tfgen: five image-generation papers as Keras 3 models (TensorFlow backend).

Importing `tfgen` is cheap; the heavy pieces live in subpackages:
`tfgen.data`, `tfgen.models`, `tfgen.training`, `tfgen.export`,
`tfgen.evaluation`, `tfgen.sampling`.
"""

__version__ = "0.1.0"
