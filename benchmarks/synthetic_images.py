"""Learnable synthetic image competitions at Kaggle's real sizes, in Kaggle's layouts (never used by tests).

Each class is a combination of a shape (disc, square, ring, cross, diamond, triangle), a texture inside
it (solid, stripes, checks) and a hue band; every image draws its own position, size, rotation, saturation,
brightness, background colour and gradient, a distractor blob and pixel noise, so no single pixel or
colour gives the class away and a network has to learn shapes. The cifar-10 layout draws a scene (the
object anywhere, a cluttered background, a distractor); the classify-leaves layout a specimen (one object
near the middle of a pale sheet, vivid colours, little noise), as the leaves were photographed. A plain 3-block CNN reaches 0.75 on the
cifar-10-shaped set after 15 epochs on 6,000 images and 0.89 after 50 (benchmarks/README.md): it keeps
rewarding a better recipe and more training, as the real sets do.

    python benchmarks/synthetic_images.py cifar-10 --root /tmp/synth --train 6000 --test 2000
    python benchmarks/synthetic_images.py classify-leaves --root /tmp/synth --train 6000 --test 2000
    python benchmarks/synthetic_images.py cifar-10 --root /tmp/full --train 50000 --test 300000   # full size

The test labels are written beside the competition folder (ROOT/SLUG-test-answers.csv), never in it.
"""

from __future__ import annotations

import argparse
import colorsys
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

SHAPES = 6
TEXTURES = 3
BATCH = 2048  # images drawn at once (memory: BATCH x size x size x 3 floats)


def class_parts(n_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Per class: its shape, texture and hue band, and the number of hue bands (classes share none of the
    three-way combinations)."""
    c = np.arange(n_classes)
    hues = max(1, -(-n_classes // (SHAPES * TEXTURES)))
    if n_classes <= SHAPES * 2:  # few classes (cifar-10): shape x two textures; two classes share a hue band
        return c % SHAPES, (c // SHAPES) % TEXTURES, c // 2, -(-n_classes // 2)
    return c % SHAPES, (c // SHAPES) % TEXTURES, c // (SHAPES * TEXTURES), hues


def masks(shape: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside-the-shape masks for a batch: ``shape`` (B,), ``u``, ``v`` (B, H, W) in the shape's frame."""
    r = np.sqrt(u**2 + v**2)
    box = np.maximum(np.abs(u), np.abs(v))
    options = np.stack([
        r < 1.0,                                               # disc
        box < 0.8,                                             # square
        (r > 0.55) & (r < 1.0),                                # ring
        (np.minimum(np.abs(u), np.abs(v)) < 0.3) & (box < 1),  # cross
        np.abs(u) + np.abs(v) < 1.0,                           # diamond
        (v < 0.6) & (v > 1.7 * np.abs(u) - 1.0),               # triangle
    ])  # fmt: skip
    return options[shape, np.arange(len(shape))]


def textures(texture: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Brightness inside the shape: solid, stripes or checks."""
    stripes = 0.55 + 0.45 * (np.sin(2 * np.pi * 2.5 * u) > 0)
    checks = 0.55 + 0.45 * ((np.sin(2 * np.pi * 2.0 * u) * np.sin(2 * np.pi * 2.0 * v)) > 0)
    return np.stack([np.ones_like(u), stripes, checks])[texture, np.arange(len(texture))]


def hsv(hue: np.ndarray, saturation: np.ndarray, value: np.ndarray) -> np.ndarray:
    return np.array([colorsys.hsv_to_rgb(h, s, v) for h, s, v in zip(hue, saturation, value, strict=True)])


@dataclass(frozen=True)
class Style:
    """How much an image varies besides its class: where the object sits and how big, its colour's
    saturation and brightness, the background, a distractor blob, pixel noise."""

    centre: tuple[float, float] = (0.3, 0.7)
    scale: tuple[float, float] = (0.14, 0.34)
    saturation: tuple[float, float] = (0.45, 1.0)
    value: tuple[float, float] = (0.45, 1.0)
    background: tuple[float, float] = (0.0, 0.75)  # each channel uniform in this range
    distractor: bool = True
    noise: float = 0.14


SCENE = Style()  # cifar-10: an object anywhere in a cluttered scene
# classify-leaves: one specimen near the middle of a pale sheet, as the leaves were photographed
SPECIMEN = Style(centre=(0.4, 0.6), scale=(0.26, 0.36), saturation=(0.7, 1.0), value=(0.55, 0.95),
                 background=(0.8, 1.0), distractor=False, noise=0.06)  # fmt: skip


def draw(labels: np.ndarray, size: int, n_classes: int, rng: np.random.Generator, style: Style = SCENE) -> np.ndarray:
    """One batch of images (B, size, size, 3) uint8 of the given classes."""
    b = len(labels)
    shape_of, texture_of, hue_of, hues = class_parts(n_classes)
    grid = (np.arange(size) + 0.5) / size
    y, x = np.meshgrid(grid, grid, indexing="ij")
    cx, cy = rng.uniform(*style.centre, (2, b, 1, 1))
    scale = rng.uniform(*style.scale, (b, 1, 1))
    angle = rng.uniform(0, 2 * np.pi, (b, 1, 1))
    dx, dy = x - cx, y - cy
    u = (dx * np.cos(angle) + dy * np.sin(angle)) / scale
    v = (-dx * np.sin(angle) + dy * np.cos(angle)) / scale
    inside = masks(shape_of[labels], u, v) * textures(texture_of[labels], u, v)
    hue = (hue_of[labels] + rng.uniform(0.1, 0.9, b)) / hues % 1.0  # anywhere in the class's band
    colour = hsv(hue, rng.uniform(*style.saturation, b), rng.uniform(*style.value, b))[:, None, None, :]
    background = rng.uniform(*style.background, (b, 1, 1, 3))
    gradient = rng.uniform(-0.25, 0.25, (b, 1, 1, 1)) * (x[None, ..., None] - 0.5)
    image = background + gradient
    if style.distractor:
        blob_x, blob_y = rng.uniform(0, 1, (2, b, 1, 1))
        blob = ((x - blob_x) ** 2 + (y - blob_y) ** 2 < rng.uniform(0.003, 0.012, (b, 1, 1)))[..., None]
        image = np.where(blob, rng.uniform(0, 1, (b, 1, 1, 3)), image)
    image = image * (1 - inside[..., None]) + colour * inside[..., None]
    image = image + rng.normal(0, style.noise, image.shape)
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


def images(n: int, size: int, n_classes: int, seed: int, style: Style = SCENE):
    """(labels (n,), a generator of (start, batch) image arrays); the classes balanced and shuffled."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % n_classes)

    def batches():
        for start in range(0, n, BATCH):
            yield start, draw(labels[start : start + BATCH], size, n_classes, rng, style)

    return labels, batches()


def write_cifar10(root: Path, n_train: int, n_test: int, seed: int = 0) -> tuple[Path, pd.DataFrame]:
    """ROOT/cifar-10 (train/1.png..., test/1.png..., trainLabels.csv, sampleSubmission.csv) and the held-out
    labels (id, label), also written to ROOT/cifar-10-test-answers.csv."""
    from competitions.catalog import COMPETITIONS

    classes = np.asarray(COMPETITIONS["cifar-10"].classes)
    data = Path(root) / "cifar-10"
    labels, batches = images(n_train + n_test, 32, len(classes), seed)
    for split in ("train", "test"):
        (data / split).mkdir(parents=True, exist_ok=True)
    for start, batch in progress(batches, n_train + n_test, "cifar-10"):
        for i, image in enumerate(batch, start=start):
            split, number = ("train", i + 1) if i < n_train else ("test", i - n_train + 1)
            Image.fromarray(image).save(data / split / f"{number}.png", compress_level=1)
    names = classes[labels]
    pd.DataFrame({"id": np.arange(1, n_train + 1), "label": names[:n_train]}).to_csv(data / "trainLabels.csv", index=False)
    answers = pd.DataFrame({"id": np.arange(1, n_test + 1), "label": names[n_train:]})
    answers.assign(label="cat").to_csv(data / "sampleSubmission.csv", index=False)
    answers.to_csv(Path(root) / "cifar-10-test-answers.csv", index=False)
    return data, answers


def write_leaves(root: Path, n_train: int, n_test: int, seed: int = 0, n_classes: int = 176,
                 drawn: int = 64, stored: int = 224) -> tuple[Path, pd.DataFrame]:  # fmt: skip
    """ROOT/classify-leaves (images/0.jpg... stored at 224 px as Kaggle ships them, drawn at ``drawn`` px;
    train.csv image,label; test.csv image; sample_submission.csv) and the held-out labels (image, label),
    also written to ROOT/classify-leaves-test-answers.csv."""
    data = Path(root) / "classify-leaves"
    (data / "images").mkdir(parents=True, exist_ok=True)
    species = np.asarray([f"species_{c:03d}" for c in range(n_classes)])
    labels, batches = images(n_train + n_test, drawn, n_classes, seed, SPECIMEN)
    files = np.asarray([f"images/{i}.jpg" for i in range(n_train + n_test)])
    for start, batch in progress(batches, n_train + n_test, "classify-leaves"):
        for i, image in enumerate(batch, start=start):
            Image.fromarray(image).resize((stored, stored), Image.BILINEAR).save(data / files[i], quality=90)
    names = species[labels]
    pd.DataFrame({"image": files[:n_train], "label": names[:n_train]}).to_csv(data / "train.csv", index=False)
    pd.DataFrame({"image": files[n_train:]}).to_csv(data / "test.csv", index=False)
    answers = pd.DataFrame({"image": files[n_train:], "label": names[n_train:]})
    answers.assign(label=species[0]).to_csv(data / "sample_submission.csv", index=False)
    answers.to_csv(Path(root) / "classify-leaves-test-answers.csv", index=False)
    return data, answers


def progress(batches, total: int, what: str):
    from tqdm import tqdm

    with tqdm(total=total, desc=f"writing {what}", unit="img", file=sys.stderr) as bar:
        for start, batch in batches:
            yield start, batch
            bar.update(len(batch))


WRITERS = {"cifar-10": write_cifar10, "classify-leaves": write_leaves}


def ensure(slug: str, root: Path, n_train: int, n_test: int, seed: int = 0) -> tuple[Path, pd.DataFrame]:
    """The set, built once per (size, seed) under ROOT: reused when its answers file is there."""
    answers = Path(root) / f"{slug}-test-answers.csv"
    if answers.exists():
        return Path(root) / slug, pd.read_csv(answers)
    return WRITERS[slug](Path(root), n_train, n_test, seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("slug", choices=list(WRITERS))
    parser.add_argument("--root", required=True)
    parser.add_argument("--train", type=int, default=6000)
    parser.add_argument("--test", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.time()
    data, answers = WRITERS[args.slug](Path(args.root), args.train, args.test, args.seed)
    print(f"{data}: {args.train} training and {len(answers)} test images in {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
