"""Decode small images once into a uint8 array on disk, then memory-map it every epoch.

Decoding 50,000 PNGs costs far more than a CIFAR epoch on a GPU; the cache turns it into a
one-off. The cache file name carries a hash of the file list (names, sizes, mtimes) and the
target size, so a changed data folder gets a fresh cache instead of stale pixels.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from competitions.core.artifacts import atomic_path
from competitions.core.console import progress
from competitions.core.errors import DataError
from competitions.core.ranks import usable_cpus


def load_rgb(path: str | Path, size: tuple[int, int] | None = None, resize: str = "squash") -> np.ndarray:
    """Read one image as HxWx3 uint8, resized to ``size`` (width, height) when given.

    ``squash`` resizes to ``size`` whatever the aspect ratio; ``crop`` keeps the aspect ratio
    (shorter side to fit, then a centre crop), for photos of various sizes.
    """
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            if size is not None and image.size != tuple(size):
                if resize == "crop":
                    scale = max(size[0] / image.size[0], size[1] / image.size[1])
                    scaled = (max(size[0], round(image.size[0] * scale)), max(size[1], round(image.size[1] * scale)))
                    image = image.resize(scaled, Image.BILINEAR)
                    left, top = (scaled[0] - size[0]) // 2, (scaled[1] - size[1]) // 2
                    image = image.crop((left, top, left + size[0], top + size[1]))
                else:
                    image = image.resize(tuple(size), Image.BILINEAR)
            return np.asarray(image, dtype=np.uint8)
    except FileNotFoundError:
        raise DataError(f"{path}: image listed in the competition files is missing") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise DataError(f"{path}: cannot read image ({err.__class__.__name__}: {err})") from None


def _decode_chunk(args: tuple[list[str], tuple[int, int], str]) -> np.ndarray:
    paths, size, resize = args
    return np.stack([load_rgb(p, size, resize) for p in paths])


def cache_key(paths: Sequence[str | Path], size: tuple[int, int], resize: str = "squash") -> str:
    digest = hashlib.sha1(f"{size}{'' if resize == 'squash' else resize}".encode())
    for path in paths:
        stat = os.stat(path)
        digest.update(f"{Path(path).name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()[:16]


def decoded_images(
    paths: Sequence[str | Path],
    size: tuple[int, int],
    cache_dir: str | Path,
    name: str,
    workers: int | None = None,
    chunk: int = 256,
    resize: str = "squash",
) -> Path:
    """Return the path of an ``.npy`` file holding all ``paths`` decoded, building it if needed."""
    missing = [str(p) for p in paths if not os.path.exists(p)]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DataError(f"{missing[0]}: image listed in the competition files is missing{more}")
    cache_dir = Path(cache_dir)
    target = cache_dir / f"{name}-{size[0]}x{size[1]}-{cache_key(paths, size, resize)}.npy"
    if target.exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    chunks = [([str(p) for p in paths[i : i + chunk]], size, resize) for i in range(0, len(paths), chunk)]
    workers = workers if workers is not None else min(8, usable_cpus())
    with atomic_path(target) as tmp:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(paths), size[1], size[0], 3))
        with progress(f"decoding {name} images", total=len(paths)) as advance:
            if workers > 1 and len(chunks) > 1:
                with ProcessPoolExecutor(workers) as pool:
                    for i, block in enumerate(pool.map(_decode_chunk, chunks)):
                        array[i * chunk : i * chunk + len(block)] = block
                        advance(len(block))
            else:
                for i, args in enumerate(chunks):
                    block = _decode_chunk(args)
                    array[i * chunk : i * chunk + len(block)] = block
                    advance(len(block))
        array.flush()
        del array
    return target
