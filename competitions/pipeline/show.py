"""`compete show SLUG`: a labelled grid of augmented training images, exactly as training sees them.

The images come from the competition's DataModule (its decoded cache and training transform), and
when mixup or CutMix is on, through the model's own ``mix_batch``, so the picture shows what a
preset or an override really does before any GPU hour is spent.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from competitions.core.artifacts import save_png
from competitions.core.errors import CompeteError
from competitions.core.spec import CompetitionSpec
from competitions.pipeline.factory import build_datamodule, model_class

TILE_INCHES = 1.6
DPI = 100


def augmented_batch(datamodule, model, n: int, seed: int):
    """(images [n,3,H,W] normalised, soft targets [n,C] or None, hard targets [n]) for ``n`` random rows."""
    import torch
    from torch.utils.data import default_collate

    rng = np.random.default_rng(seed)
    table = datamodule.train_table
    rows = rng.choice(len(table), size=min(n, len(table)), replace=False)
    torch.manual_seed(seed)
    np.random.seed(seed)  # albumentations and timm's Mixup draw from numpy
    import random

    random.seed(seed)
    dataset = datamodule.train_dataset(rows)
    batch = default_collate([dataset[i] for i in range(len(dataset))])
    images, target = batch["image"], batch["target"]
    soft = target.float() if target.ndim == 2 else None  # multi-label: the multi-hot row, captioned like a mix
    if model is not None:
        model.train()
        images, soft = model.mix_batch(images, target)
    return images, soft, target


def caption(classes, target, soft) -> str:
    if soft is None:
        return str(classes[int(target)])
    order = np.argsort(-soft)[:2]
    parts = [f"{classes[i]} {soft[i]:.0%}" for i in order if soft[i] >= 0.05]
    return "\n".join(parts)


def grid_figure(images, soft, target, classes, mean, std, title: str):
    """A matplotlib Figure: the images (de-normalised) in a grid, each captioned with its label(s)."""
    from matplotlib.figure import Figure

    n = len(images)
    cols = min(8, n)
    rows = math.ceil(n / cols)
    pixels = images.permute(0, 2, 3, 1).numpy() * np.asarray(std) + np.asarray(mean)
    fig = Figure(figsize=(cols * TILE_INCHES, rows * (TILE_INCHES + 0.3) + 0.4), dpi=DPI)
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(np.clip(pixels[i], 0, 1), interpolation="nearest")
            label = caption(classes, target[i], None if soft is None else soft[i].numpy())
            ax.set_title(label, fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def augmented_figure(spec: CompetitionSpec, datamodule, model_cfg: dict, n: int, seed: int):
    """The grid of ``n`` augmented training images of a DataModule in hand (mixed through the model's
    own ``mix_batch`` when mixup or CutMix is on)."""
    if spec.tabular:
        raise CompeteError(f"compete show draws image competitions; {spec.slug} is tabular")
    model = None
    if model_cfg.get("mixup_alpha", 0) > 0 or model_cfg.get("cutmix_alpha", 0) > 0:
        model = model_class(spec).build_untrained(**datamodule.model_kwargs(), **model_cfg)  # no weights needed to mix
    images, soft, target = augmented_batch(datamodule, model, n, seed)
    mixing = "" if soft is None else f", mixup {model_cfg.get('mixup_alpha')} / CutMix {model_cfg.get('cutmix_alpha')}"
    title = f"{spec.slug}: {len(images)} augmented training images at {datamodule.image_size}px{mixing}"
    return grid_figure(images, soft, target, datamodule.class_names, datamodule.mean, datamodule.std, title)


def draw_augmented(spec: CompetitionSpec, datamodule, model_cfg: dict, n: int, seed: int, out: Path) -> Path:
    """``augmented_figure`` saved as a PNG (`compete fit --logger wandb` logs it with the first fold)."""
    return save_png(augmented_figure(spec, datamodule, model_cfg, n, seed), out)


def figure_for_config(spec: CompetitionSpec, cfg, n: int = 32):
    """The grid for a parsed fit configuration (its data folder, --data.* and --model.* settings)."""
    if spec.tabular:
        raise CompeteError(f"compete show draws image competitions; {spec.slug} is tabular")
    datamodule = build_datamodule(spec, cfg.data_dir, cfg.runs_dir, **cfg.data.as_dict())
    datamodule.check_layout()
    return augmented_figure(spec, datamodule, cfg.model.as_dict(), n, cfg.seed)
