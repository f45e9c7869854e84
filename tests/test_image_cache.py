from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from competitions.core.artifacts import atomic_path, write_json
from competitions.core.errors import DataError
from datamodules.image_cache import decoded_images


def _images(folder, n):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = folder / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


@pytest.mark.parametrize("workers", [1, 2])
def test_cache_holds_the_exact_pixels_and_is_reused(tmp_path, workers):
    paths = _images(tmp_path / "imgs", 7)
    cache = decoded_images(paths, (32, 32), tmp_path / "cache", "train", workers=workers, chunk=3)
    array = np.load(cache, mmap_mode="r")
    assert array.shape == (7, 32, 32, 3) and array.dtype == np.uint8
    for i, path in enumerate(paths):
        assert np.array_equal(array[i], np.asarray(Image.open(path).convert("RGB")))
    mtime = cache.stat().st_mtime_ns
    assert decoded_images(paths, (32, 32), tmp_path / "cache", "train") == cache
    assert cache.stat().st_mtime_ns == mtime


def test_changed_image_gets_a_fresh_cache(tmp_path):
    paths = _images(tmp_path / "imgs", 3)
    first = decoded_images(paths, (32, 32), tmp_path / "cache", "train", workers=1)
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(paths[1])
    os.utime(paths[1], ns=(1, 1))
    second = decoded_images(paths, (32, 32), tmp_path / "cache", "train", workers=1)
    assert second != first and not np.load(second)[1].any()


def test_resized_and_grayscale_images(tmp_path):
    path = tmp_path / "g.png"
    Image.fromarray(np.full((10, 20), 200, np.uint8)).save(path)
    array = np.load(decoded_images([path], (16, 16), tmp_path / "cache", "x", workers=1))
    assert array.shape == (1, 16, 16, 3) and (array == 200).all()


def test_missing_and_corrupt_images_are_named(tmp_path):
    paths = _images(tmp_path / "imgs", 2)
    with pytest.raises(DataError, match=r"nope\.png: image listed .* is missing"):
        decoded_images([*paths, tmp_path / "nope.png"], (32, 32), tmp_path / "cache", "t", workers=1)
    paths[1].write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"1\.png: cannot read image"):
        decoded_images(paths, (32, 32), tmp_path / "cache", "t", workers=1)
    assert not list((tmp_path / "cache").glob("*"))  # no half-written cache left behind


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "cv.json"
    write_json(target, {"score": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text('{"sco')
            raise RuntimeError("crash mid-write")
    assert target.read_text().strip().startswith("{") and '"score": 1' in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["cv.json"]


def test_crop_resize_keeps_the_aspect_ratio_and_the_centre(tmp_path):
    from datamodules.image_cache import load_rgb

    # A 100x50 photo whose red channel encodes the column: red = 2 * x.
    pixels = np.zeros((50, 100, 3), np.uint8)
    pixels[..., 0] = (np.arange(100) * 2)[None, :]
    Image.fromarray(pixels).save(tmp_path / "wide.png")
    cropped = load_rgb(tmp_path / "wide.png", (20, 20), resize="crop")
    squashed = load_rgb(tmp_path / "wide.png", (20, 20))
    assert cropped.shape == squashed.shape == (20, 20, 3)
    # Crop: shorter side to 20 (100x50 -> 40x20), then the centre 20 columns: original x 25..75.
    assert 40 <= cropped[10, 0, 0] <= 65 and 135 <= cropped[10, -1, 0] <= 160
    # Squash: the whole width, x 0..99.
    assert squashed[10, 0, 0] <= 15 and squashed[10, -1, 0] >= 185


def augmented(tmp_path, seed: int, workers: int):
    """16 copies of one image through the training augmentation, in loader order."""
    import lightning as L
    import torch
    from torch.utils.data import DataLoader

    from datamodules.images import CachedImageDataset
    from datamodules.transforms import train_transform

    cache = tmp_path / "same.npy"
    image = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    np.save(cache, np.stack([image] * 16))
    L.seed_everything(seed, workers=True, verbose=False)
    dataset = CachedImageDataset(cache, np.arange(16), None, train_transform(16, crop_padding=4, mean=(0.5,) * 3,
                                                                           std=(0.5,) * 3))  # fmt: skip
    from lightning.fabric.utilities.seed import pl_worker_init_function

    loader = DataLoader(dataset, batch_size=1, num_workers=workers, worker_init_fn=pl_worker_init_function)
    return torch.cat([batch["image"] for batch in loader])


def test_training_augmentation_is_seeded_and_differs_between_loader_workers(tmp_path):
    """Albumentations' own generator: seeded by the fold's seed (the same run augments alike), and not
    copied unchanged into every loader worker (whose crops and flips then repeated each other)."""
    import torch

    first, again = augmented(tmp_path, 7, 2), augmented(tmp_path, 7, 2)
    assert torch.equal(first, again)
    assert not torch.equal(first, augmented(tmp_path, 8, 2))
    # With 2 workers, items 0, 2, 4, ... come from worker 0 and 1, 3, 5, ... from worker 1.
    assert not torch.equal(first[0::2], first[1::2])
    assert torch.equal(augmented(tmp_path, 7, 0), augmented(tmp_path, 7, 0))
