"""Device-resident batched augmentation for cached small images (``data.augment_on: device``).

The per-sample path (albumentations in DataLoader workers) decodes nothing but still costs a Python
call per image and per transform; for 32-64 px images and small nets that is the bottleneck, on a
GPU above all. Here the uint8 cache is moved once to the training device (GPU memory, or pinned CPU
memory), the loader yields only row indices (no workers), and Lightning's ``on_after_batch_transfer``
builds each training batch with whole-batch tensor ops: reflection padding and a random crop per
image, random flips, normalisation. The crops and flips follow the same distribution as the
albumentations path (PadIfNeeded with BORDER_REFLECT_101 + RandomCrop, HorizontalFlip p=0.5,
VerticalFlip p=0.5; a test compares the two). Validation and prediction keep the per-sample path,
so folds and OOF predictions do not change.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import IterableDataset


class IndexBatches(IterableDataset):
    """Shuffled batches of row indices (and targets), each epoch a new order; under DDP every process
    draws the same order and takes every world-th batch."""

    def __init__(self, rows: np.ndarray, targets: np.ndarray, batch_size: int, drop_last: bool, seed: int,
                 rank: int = 0, world: int = 1) -> None:  # fmt: skip
        self.rows = torch.as_tensor(np.array(rows), dtype=torch.long)
        targets = np.array(targets)  # class indices, or multi-hot rows (multi-label)
        self.targets = torch.as_tensor(targets, dtype=torch.long if targets.ndim == 1 else torch.float32)
        self.batch_size, self.drop_last, self.seed = batch_size, drop_last, seed
        self.rank, self.world = rank, world
        self.epoch = 0

    def _batches(self) -> list[torch.Tensor]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = self.rows[torch.randperm(len(self.rows), generator=generator)]
        batches = list(order.split(self.batch_size))
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        # Every process must take the same number of steps (a DDP step is a collective): the first
        # batches are dealt again to fill the last round, as DistributedSampler pads with repeated rows.
        # Fewer batches than processes (1,000 rows in batches of 512 on 8 GPUs) are dealt round again.
        short = -len(batches) % self.world
        batches += [batches[i % len(batches)] for i in range(short)] if batches else []
        return batches[self.rank :: self.world]

    def __len__(self) -> int:
        n = len(self.rows) // self.batch_size if self.drop_last else -(-len(self.rows) // self.batch_size)
        return -(-n // self.world)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        batches = self._batches()
        self.epoch += 1
        for rows in batches:
            yield {"index": rows, "target": self.targets[rows]}


class DeviceImages:
    """The uint8 NHWC cache as one tensor per device, loaded on first use. On the CPU the tensor is the
    memory-mapped file itself: the pages live in the page cache, shared by every process that trains or
    predicts from it (DDP's, fold-parallel workers) and given back under memory pressure, not a private
    copy each (0.9 GB for cifar-10's 300,000 test images)."""

    def __init__(self, cache_file) -> None:
        self.cache_file = cache_file
        self._tensors: dict[str, torch.Tensor] = {}

    def on(self, device: torch.device) -> torch.Tensor:
        key = str(device)
        if key not in self._tensors:
            if device.type == "cpu":  # copy-on-write: writable for torch, never written
                self._tensors[key] = torch.from_numpy(np.load(self.cache_file, mmap_mode="c"))
            else:
                images = torch.from_numpy(np.load(self.cache_file))
                self._tensors[key] = (images.pin_memory() if torch.cuda.is_available() else images).to(device)
        return self._tensors[key]


def augment_batch(images: torch.Tensor, padding: int, hflip: bool, vflip: bool, mean: Sequence[float],
                  std: Sequence[float], generator: torch.Generator | None = None) -> torch.Tensor:  # fmt: skip
    """uint8 NHWC -> normalised float NCHW, with a random crop after ``padding`` px of reflection padding
    (offsets uniform in 0..2*padding per image), and random horizontal / vertical flips (p=0.5 each)."""
    n, height, width, _ = images.shape
    device = images.device
    out = images
    if padding > 0:
        padded = F.pad(images.permute(0, 3, 1, 2).float(), (padding,) * 4, mode="reflect").permute(0, 2, 3, 1)
        dy = torch.randint(0, 2 * padding + 1, (n,), device=device, generator=generator)
        dx = torch.randint(0, 2 * padding + 1, (n,), device=device, generator=generator)
        rows = (dy[:, None] + torch.arange(height, device=device))[:, :, None]
        cols = (dx[:, None] + torch.arange(width, device=device))[:, None, :]
        out = padded[torch.arange(n, device=device)[:, None, None], rows, cols]
    out = out.permute(0, 3, 1, 2).float()
    for flip, axis in ((hflip, 3), (vflip, 2)):
        if flip:
            chosen = torch.rand(n, device=device, generator=generator) < 0.5
            out = torch.where(chosen[:, None, None, None], out.flip(axis), out)
    scale, shift = normalisation(tuple(mean), tuple(std), str(device))
    return ((out - shift) / scale).contiguous()


@functools.lru_cache(maxsize=16)
def normalisation(mean: tuple, std: tuple, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(std, mean) * 255 as [1, C, 1, 1] tensors on ``device``, made once: a new tensor from a list is a
    copy to the GPU at every step."""
    scale = torch.tensor(std, device=device).view(1, -1, 1, 1) * 255.0
    shift = torch.tensor(mean, device=device).view(1, -1, 1, 1) * 255.0
    return scale, shift
