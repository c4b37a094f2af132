"""Built-in image datasets from single pictures: `texture` crops and `photos`, offline.

FRAME and wFRAME learn from one texture or a handful of scene photos. The
pictures come from scikit-image's bundled ``skimage/data/`` folder (read as
files; scikit-image itself is not imported) or from any image file or
folder given as ``data.path``:

* ``texture``: ``num_train`` (``num_test``) random square patches of side
  ``data.patch_size`` (0: ``data.image_size``) cut from the picture(s), each
  resized to ``data.image_size`` -- the classic FRAME texture-synthesis
  setting. With several pictures each patch comes from one of them in turn
  and is labelled with the picture's number. Train and test patches are
  drawn by different random streams from the same pictures (a texture has
  no held-out image; hold one out with ``data.path`` if you need one).
* ``photos``: each picture once, its largest centre square resized to
  ``data.image_size``, labelled with its number; train and test are the same
  pictures (the small-data setting of wFRAME §5, Fig. 6).

Images are float32 in [-1, 1]; patches and resizing use PIL only.
"""

from __future__ import annotations

import functools
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from tfgen.data.locations import installed_file
from tfgen.errors import ConfigError, DatasetNotFoundError

# scikit-image's bundled pictures that tfgen names: name -> (file, kind, what it is).
SKIMAGE_PICTURES: Dict[str, Tuple[str, str, str]] = {
    "brick": ("brick.png", "texture", "512x512 gray brick wall"),
    "grass": ("grass.png", "texture", "512x512 gray grass"),
    "gravel": ("gravel.png", "texture", "512x512 gray gravel"),
    "astronaut": ("astronaut.png", "photo", "512x512 colour portrait of an astronaut"),
    "camera": ("camera.png", "photo", "512x512 gray cameraman"),
    "chelsea": ("chelsea.png", "photo", "451x300 colour cat"),
    "coffee": ("coffee.png", "photo", "600x400 colour cup of coffee"),
    "rocket": ("rocket.jpg", "photo", "640x427 colour rocket launch"),
}
TEXTURES = tuple(n for n, v in SKIMAGE_PICTURES.items() if v[1] == "texture")
PHOTOS = tuple(n for n, v in SKIMAGE_PICTURES.items() if v[1] == "photo")

DEFAULT_PICTURES = {"texture": ("brick",), "photos": PHOTOS}

_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")
_SPLIT_IDS = {"train": 0, "test": 1}


def skimage_data_dir() -> Optional[str]:
    """scikit-image's bundled `skimage/data` folder, or None when scikit-image is not installed."""
    brick = installed_file("skimage", "data", SKIMAGE_PICTURES["brick"][0])
    return os.path.dirname(brick) if brick else None


def _picture_files(dataset: str, names: Sequence[str], path: Optional[str]) -> List[Tuple[str, str]]:
    """(name, file) of every picture a texture/photos config asks for.

    Raises:
      ConfigError: an unknown picture name, or both names and a path.
      DatasetNotFoundError: a missing path, a folder without images, or
        scikit-image not installed for named pictures.
    """
    if path:
        if names:
            raise ConfigError(f"data.path and data.images both given for '{dataset}': use one")
        path = os.path.expanduser(os.fspath(path))
        if os.path.isfile(path):
            return [(os.path.splitext(os.path.basename(path))[0], path)]
        if not os.path.isdir(path):
            raise DatasetNotFoundError(f"data.path {path}: no such image file or folder")
        files = sorted(os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs
                       if f.lower().endswith(_IMAGE_EXTENSIONS))
        if not files:
            raise DatasetNotFoundError(f"data.path {path}: no image files ({', '.join(_IMAGE_EXTENSIONS)})")
        return [(os.path.relpath(f, path), f) for f in files]
    names = list(names) or list(DEFAULT_PICTURES[dataset])
    unknown = [n for n in names if n not in SKIMAGE_PICTURES]
    if unknown:
        raise ConfigError(f"data.images: {unknown} {'is' if len(unknown) == 1 else 'are'} not a picture tfgen "
                          f"knows (textures: {', '.join(TEXTURES)}; photos: {', '.join(PHOTOS)}); "
                          "for your own image set data.path")
    if len(set(names)) != len(names):
        raise ConfigError(f"data.images: {names} names a picture twice")
    root = skimage_data_dir()
    if root is None:
        raise DatasetNotFoundError(
            f"data.name={dataset}: the pictures {names} come with scikit-image, which is not installed; "
            "`pip install scikit-image`, or set data.path to an image file or folder")
    return [(n, os.path.join(root, SKIMAGE_PICTURES[n][0])) for n in names]


def _to_uint8(im: "Image.Image") -> np.ndarray:
    """uint8 [H, W, 1] or [H, W, 3] of a PIL image of any mode.

    16-bit and 32-bit gray are scaled to 0..255 (PIL's own conversion would
    clip them to white); float images are taken as 0..1 when no value
    exceeds 1, else as 0..255. Alpha is dropped: tfgen's images are opaque.
    """
    mode = im.mode
    if mode.startswith("I;16") or mode == "I":
        a = np.asarray(im).astype(np.float64)
        scale = 257.0 if (mode != "I" or a.max() > 255) else 1.0  # 65535 / 255
        return np.clip(np.round(a / scale), 0, 255).astype(np.uint8)[..., None]
    if mode == "F":
        a = np.asarray(im).astype(np.float64)
        a = a * 255.0 if a.max() <= 1.0 else a
        return np.clip(np.round(a), 0, 255).astype(np.uint8)[..., None]
    if mode in ("1", "L", "LA"):
        return np.asarray(im.convert("L"))[..., None]
    return np.asarray(im.convert("RGB"))


@functools.lru_cache(maxsize=16)
def _read(path: str) -> np.ndarray:
    """uint8 [H, W, 1] (gray) or [H, W, 3] (colour) of an image file, upright (read-only)."""
    from PIL import ImageOps

    try:
        with Image.open(path) as im:
            im.load()
            arr = _to_uint8(ImageOps.exif_transpose(im))  # photos stored sideways come out upright
    except (OSError, ValueError) as e:
        raise DatasetNotFoundError(f"{path}: cannot read the image ({e})") from None
    if arr.shape[-1] == 3 and np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 1], arr[..., 2]):
        arr = arr[..., :1]  # an RGB file of a gray picture is one channel
    arr = np.ascontiguousarray(arr)
    arr.flags.writeable = False
    return arr


def _resize(patch: np.ndarray, size: int) -> np.ndarray:
    """uint8 [h, w, C] -> float32 [size, size, C] in [0, 255] (PIL bilinear, antialiased when shrinking)."""
    if patch.shape[0] == size and patch.shape[1] == size:
        return patch.astype(np.float32)
    chans = [np.asarray(Image.fromarray(patch[..., c]).resize((size, size), Image.Resampling.BILINEAR))
             for c in range(patch.shape[-1])]
    return np.stack(chans, -1).astype(np.float32)


def _channels(pictures: List[np.ndarray], channels: int) -> int:
    native = 3 if any(p.shape[-1] == 3 for p in pictures) else 1
    return channels or native


def _to_channels(x: np.ndarray, channels: int) -> np.ndarray:
    if x.shape[-1] == channels:
        return x
    if channels == 3:
        return np.repeat(x, 3, axis=-1)
    # ITU-R 601 luma, as tf.image.rgb_to_grayscale.
    return (x @ np.array([0.2989, 0.5870, 0.1140], np.float32))[..., None]


def _finish(images: np.ndarray, labels: np.ndarray, extra: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    out = {"image": (images * (1.0 / 127.5) - 1.0).astype(np.float32),
           "label": labels.astype(np.int32), **extra}
    for a in out.values():
        a.flags.writeable = False
    return out


def picture_names(dataset: str, names: Sequence[str] = (), path: Optional[str] = None) -> List[str]:
    """The names of the pictures a config uses (their order gives the labels)."""
    return [n for n, _ in _picture_files(dataset, names, path)]


def native_channels(dataset: str, names: Sequence[str] = (), path: Optional[str] = None) -> int:
    """1 when every picture is gray, else 3."""
    return _channels([_read(f) for _, f in _picture_files(dataset, names, path)], 0)


@functools.lru_cache(maxsize=8)
def _render_texture(num: int, names: Tuple[str, ...], path: Optional[str], patch_size: int, image_size: int,
                    split: str, seed: int, channels: int) -> Dict[str, np.ndarray]:
    files = _picture_files("texture", names, path)
    pictures = [_read(f) for _, f in files]
    side = patch_size or image_size
    for (name, _), pic in zip(files, pictures):
        if min(pic.shape[:2]) < side:
            raise ConfigError(f"data.patch_size: {side}-pixel patches do not fit in '{name}' "
                              f"({pic.shape[1]}x{pic.shape[0]}); use a smaller patch_size or image_size")
    out_channels = _channels(pictures, channels)
    ss = np.random.SeedSequence([int(seed), _SPLIT_IDS[split], 7003])
    g_pos = np.random.default_rng(ss.spawn(1)[0])
    labels = np.arange(num) % len(pictures)
    u = g_pos.random(size=(num, 2))
    images = np.empty((num, image_size, image_size, out_channels), np.float32)
    corners = np.empty((num, 2), np.int32)
    for i in range(num):
        pic = pictures[labels[i]]
        y0 = int(u[i, 0] * (pic.shape[0] - side + 1))
        x0 = int(u[i, 1] * (pic.shape[1] - side + 1))
        corners[i] = (x0, y0)
        images[i] = _to_channels(_resize(pic[y0:y0 + side, x0:x0 + side], image_size), out_channels)
    return _finish(images, labels, {"corner": corners})


def render_texture(num_examples: int, *, images: Sequence[str] = (), path: Optional[str] = None,
                   patch_size: int = 0, image_size: int = 64, split: str = "train", seed: int = 0,
                   channels: int = 0) -> Dict[str, np.ndarray]:
    """Random square patches of one or more pictures (FRAME's texture setting).

    Args:
      num_examples: N, number of patches.
      images: scikit-image picture names (`SKIMAGE_PICTURES`); empty with no
        `path`: ('brick',).
      path: an image file, or a folder searched recursively for images,
        instead of named pictures.
      patch_size: side of each patch in the picture's pixels before
        resizing; 0: `image_size` (no resizing).
      image_size: S, output side.
      split: 'train' or 'test' (different random streams, same pictures).
      seed: patch-position seed; same seed, same arrays.
      channels: 1, 3, or 0 for 1 when every picture is gray, else 3.

    Returns:
      A dict of read-only numpy arrays:
        image: float32 [N, S, S, C] in [-1, 1].
        label: int32 [N], the picture each patch was cut from (patches take
          the pictures in turn: label = i mod number of pictures).
        corner: int32 [N, 2], the patch's top-left (x, y) in its picture.

    Raises:
      ConfigError: bad names, split or sizes; patches larger than a picture.
      DatasetNotFoundError: pictures that cannot be found or read.
    """
    if split not in _SPLIT_IDS:
        raise ConfigError(f"built-in datasets have splits 'train' and 'test', not {split!r}")
    if num_examples < 0:
        raise ValueError(f"num_examples must be >= 0, not {num_examples}")
    if patch_size < 0 or image_size < 1:
        raise ConfigError(f"patch_size must be >= 0 and image_size >= 1, not {patch_size}, {image_size}")
    return dict(_render_texture(int(num_examples), tuple(images), path, int(patch_size), int(image_size),
                                split, int(seed), int(channels)))


@functools.lru_cache(maxsize=8)
def _load_photos(names: Tuple[str, ...], path: Optional[str], image_size: int,
                 channels: int) -> Dict[str, np.ndarray]:
    files = _picture_files("photos", names, path)
    pictures = [_read(f) for _, f in files]
    out_channels = _channels(pictures, channels)
    images = np.empty((len(pictures), image_size, image_size, out_channels), np.float32)
    for i, pic in enumerate(pictures):
        h, w = pic.shape[:2]
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        images[i] = _to_channels(_resize(pic[top:top + s, left:left + s], image_size), out_channels)
    return _finish(images, np.arange(len(pictures)), {})


def load_photos(*, images: Sequence[str] = (), path: Optional[str] = None, image_size: int = 64,
                channels: int = 0) -> Dict[str, np.ndarray]:
    """Each picture once, its largest centre square resized to `image_size`.

    Args:
      images: scikit-image picture names; empty with no `path`: `PHOTOS`.
      path: an image file or folder instead of named pictures.
      image_size: S, output side.
      channels: 1, 3, or 0 for 1 when every picture is gray, else 3.

    Returns:
      A dict of read-only numpy arrays: image float32 [P, S, S, C] in
      [-1, 1] and label int32 [P] (the picture's number, 0..P-1).
    """
    return dict(_load_photos(tuple(images), path, int(image_size), int(channels)))


def clear_cache() -> None:
    """Drops every cached picture and rendering."""
    _read.cache_clear()
    _render_texture.cache_clear()
    _load_photos.cache_clear()
