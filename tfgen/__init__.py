"""tfgen: five image-generation papers as Keras 3 models (TensorFlow backend).

Importing `tfgen` is cheap; TensorFlow is loaded by the first name that needs
it. The short API::

    config = tfgen.load_config("dcgan/multidigit_one", ["train.steps=100"])  # or a YAML path
    config = tfgen.config_from_dict({"model": {"name": "dcgan"}})           # sections default
    model = tfgen.build_model(config, image_shape=(32, 32, 1))
    model.compile(); model.fit(dataset)       # images in [-1, 1], or (images, labels), or dicts
    tfgen.export_model(model, "export_dir")   # a SavedModel with named signatures
    tfgen.train(config, "runs/x")             # the whole harness: checkpoints, TensorBoard, resume
    config, model = tfgen.load_workdir("runs/x")

Subpackages: `tfgen.data`, `tfgen.models`, `tfgen.training`, `tfgen.export`,
`tfgen.evaluation`, `tfgen.sampling`.
"""

from tfgen._lazy import lazy_attributes

__version__ = "0.1.0"

_EXPORTS = {
    "load_config": "tfgen.config",
    "config_from_dict": "tfgen.config",
    "build_model": "tfgen.models.registry",
    "export_model": "tfgen.export",
    "train": "tfgen.training.runner",
    "load_workdir": "tfgen.training.workdir",
}


__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS)


__all__ = sorted(_EXPORTS) + ["__version__"]
