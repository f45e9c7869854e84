"""Tiny competitions in Kaggle's exact layouts, built in a temp dir from real digit scans."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from lightning.pytorch.callbacks import Callback
from PIL import Image

from competitions.catalog import COMPETITIONS

CIFAR10_CLASSES = COMPETITIONS["cifar-10"].classes


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


LEAF_SPECIES = ("maclura_pomifera", "ulmus_rubra", "broussonettia_papyrifera", "quercus_montana")


def make_leaves(root: Path, n_train: int = 32, n_test: int = 12) -> Path:
    """``root/classify-leaves``: images/0.jpg... (224x224 JPEG, train then test in one folder),
    train.csv (image,label), test.csv (image), sample_submission.csv (image,label)."""
    data = Path(root) / "classify-leaves"
    (data / "images").mkdir(parents=True)
    images, digits = digit_images(n_train + n_test, seed=1)
    names = [f"images/{i}.jpg" for i in range(n_train + n_test)]
    for name, image in zip(names, images, strict=True):
        Image.fromarray(image).resize((224, 224), Image.BILINEAR).save(data / name, quality=90)
    labels = np.asarray(LEAF_SPECIES)[digits[:n_train] % len(LEAF_SPECIES)]
    pd.DataFrame({"image": names[:n_train], "label": labels}).to_csv(data / "train.csv", index=False)
    pd.DataFrame({"image": names[n_train:]}).to_csv(data / "test.csv", index=False)
    pd.DataFrame({"image": names[n_train:], "label": LEAF_SPECIES[0]}).to_csv(
        data / "sample_submission.csv", index=False
    )
    return data


DOG_FIXTURE_BREEDS = ("boston_bull", "dingo", "pekinese", "whippet")


def make_dog_breed(root: Path, n_train: int = 32, n_test: int = 12) -> Path:
    """``root/dog-breed-identification``: train/<id>.jpg and test/<id>.jpg of various sizes with
    32-character hex ids (some with leading zeros), labels.csv (id,breed), sample_submission.csv
    (id + 120 probability columns, alphabetical)."""
    from competitions.catalog import COMPETITIONS
    DOG_BREEDS = COMPETITIONS["dog-breed-identification"].classes

    data = Path(root) / "dog-breed-identification"
    (data / "train").mkdir(parents=True)
    (data / "test").mkdir()
    rng = np.random.default_rng(2)
    images, digits = digit_images(n_train + n_test, seed=2)
    ids = ["".join(f"{int(v):08x}" for v in rng.integers(0, 16**8, 4)) for _ in images]
    ids[0], ids[n_train] = "00" + ids[0][2:], "0" + ids[n_train][1:]  # ids keep their leading zeros
    for i, (image_id, image) in enumerate(zip(ids, images, strict=True)):
        width, height = int(rng.integers(36, 80)), int(rng.integers(36, 80))  # photos come in every size
        folder = "train" if i < n_train else "test"
        Image.fromarray(image).resize((width, height), Image.BILINEAR).save(data / folder / f"{image_id}.jpg")
    breeds = np.asarray(DOG_FIXTURE_BREEDS)[digits[:n_train] % len(DOG_FIXTURE_BREEDS)]
    pd.DataFrame({"id": ids[:n_train], "breed": breeds}).to_csv(data / "labels.csv", index=False)
    sample = pd.DataFrame(1 / len(DOG_BREEDS), index=range(n_test), columns=list(DOG_BREEDS))
    sample.insert(0, "id", ids[n_train:])
    sample.to_csv(data / "sample_submission.csv", index=False)
    return data


class OwnDiskOnRank1(Callback):
    """Process 1 works in an empty folder of its own, as a node without the shared filesystem would."""

    def setup(self, trainer, pl_module, stage: str) -> None:
        if trainer.global_rank == 1:
            import os
            import tempfile

            os.chdir(tempfile.mkdtemp(prefix="compete-own-disk-"))


class CtrlCAfterFirstEpoch(Callback):
    """A Lightning callback that presses Ctrl-C after the first training epoch (for the interrupt tests)."""

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        raise KeyboardInterrupt


class SlowTrainingSteps(Callback):
    """Every training step 0.15 s slower than the budget's probe saw (a machine that slows down)."""

    def on_train_batch_end(self, *args) -> None:
        import time

        time.sleep(0.15)


class DtypeOfTheLogits(Callback):
    """Keeps the dtype of the classifier's output in each training step (``seen``): bfloat16 under
    bf16-mixed autocast, float32 under 32-true."""

    seen: list = []

    def on_train_start(self, trainer, pl_module) -> None:
        head = pl_module.model.get_classifier()
        head.register_forward_hook(lambda module, inputs, output: DtypeOfTheLogits.seen.append(output.dtype))
