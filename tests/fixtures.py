"""Tiny competitions in Kaggle's exact layouts, built in a temp dir from real digit scans."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from competitions.cifar10 import CIFAR10_CLASSES


def digit_images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` real handwritten digits as 32x32 RGB uint8 arrays, with their digit (0-9)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    # Balanced: cycle through the classes so every fold sees every class.
    order = np.concatenate([rng.permutation(np.flatnonzero(digits.target == d)) for d in range(10)])
    per_class = [np.flatnonzero(digits.target[order] == d) for d in range(10)]
    picks = [order[per_class[i % 10][i // 10]] for i in range(n)]
    images = []
    for i in picks:
        gray = Image.fromarray((digits.images[i] * (255 / 16)).astype(np.uint8)).resize((32, 32), Image.BICUBIC)
        images.append(np.asarray(gray.convert("RGB")))
    return np.stack(images), digits.target[picks]


def make_cifar10(root: Path, n_train: int = 40, n_test: int = 12) -> Path:
    """``root/cifar-10`` as Kaggle ships it after extracting train.7z and test.7z."""
    data = Path(root) / "cifar-10"
    (data / "train").mkdir(parents=True)
    (data / "test").mkdir()
    images, digits = digit_images(n_train + n_test)
    for i in range(n_train):
        Image.fromarray(images[i]).save(data / "train" / f"{i + 1}.png")
    for j in range(n_test):
        Image.fromarray(images[n_train + j]).save(data / "test" / f"{j + 1}.png")
    labels = np.asarray(CIFAR10_CLASSES)[digits]
    pd.DataFrame({"id": np.arange(1, n_train + 1), "label": labels[:n_train]}).to_csv(
        data / "trainLabels.csv", index=False
    )
    pd.DataFrame({"id": np.arange(1, n_test + 1), "label": "cat"}).to_csv(data / "sampleSubmission.csv", index=False)
    return data
