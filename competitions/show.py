"""`compete show SLUG`: a labelled grid of augmented training images, exactly as training sees them.

The images come from the competition's DataModule (its decoded cache and training transform), and
when mixup or CutMix is on, through the model's own ``mix_batch``, so the picture shows what a
preset or an override really does before any GPU hour is spent.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

from competitions.artifacts import atomic_path
from competitions.errors import CompeteError
from competitions.spec import CompetitionSpec

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
    soft = None
    if model is not None:
        model.train()
        images, soft = model.mix_batch(images, target)
    return images, soft, target


def caption(classes, target: int, soft) -> str:
    if soft is None:
        return str(classes[target])
    order = np.argsort(-soft)[:2]
    parts = [f"{classes[i]} {soft[i]:.0%}" for i in order if soft[i] >= 0.05]
    return "\n".join(parts)


def draw_grid(images, soft, target, classes, mean, std, out: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(images)
    cols = min(8, n)
    rows = math.ceil(n / cols)
    pixels = images.permute(0, 2, 3, 1).numpy() * np.asarray(std) + np.asarray(mean)
    fig, axes = plt.subplots(
        rows, cols, figsize=(cols * TILE_INCHES, rows * (TILE_INCHES + 0.3) + 0.4), dpi=DPI, squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(np.clip(pixels[i], 0, 1), interpolation="nearest")
            label = caption(classes, int(target[i]), None if soft is None else soft[i].numpy())
            ax.set_title(label, fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    plt.close(fig)
    return out


def run_show(spec: CompetitionSpec, argv: list[str]) -> Path:
    from competitions.fit import fit_parser, resolve_presets

    if spec.task != "classification":
        raise CompeteError(f"compete show draws image competitions; {spec.slug} is tabular")
    parser = fit_parser(spec)
    parser.prog = f"compete show {spec.slug}"
    parser.description = (
        "Draw a labelled grid of augmented training images as the DataModule (and mixup/CutMix) produce them. "
        "Takes the same --config, --data.* and --model.* options as compete fit."
    )
    parser.add_argument("--n", type=int, default=32, help="how many images")
    parser.add_argument("--out", type=str | None, default=None, help="PNG file (default: SLUG-augmented.png)")
    cfg = parser.parse_args(resolve_presets(spec, argv))
    out = Path(cfg.out or f"{spec.slug}-augmented.png")
    datamodule = spec.datamodule_class()(
        data_dir=str(Path(cfg.data_dir)),
        cache_dir=str(Path(cfg.runs_dir).resolve() / spec.slug / "cache"),
        **cfg.data.as_dict(),
    )
    datamodule.check_layout()
    out = draw_augmented(spec, datamodule, cfg.model.as_dict(), cfg.n, cfg.seed, out)
    print(f"wrote {out}", file=sys.stderr)
    return out


def draw_augmented(spec: CompetitionSpec, datamodule, model_cfg: dict, n: int, seed: int, out: Path) -> Path:
    """The grid for a DataModule in hand (`compete fit --logger wandb` reuses its own and its cache)."""
    model = None
    if model_cfg.get("mixup_alpha", 0) > 0 or model_cfg.get("cutmix_alpha", 0) > 0:
        overrides = getattr(spec.model_class(), "checkpoint_overrides", dict)()  # no weights needed to mix
        model = spec.model_class()(**datamodule.model_kwargs(), **{**model_cfg, **overrides})
    images, soft, target = augmented_batch(datamodule, model, n, seed)
    mixing = "" if soft is None else f", mixup {model_cfg.get('mixup_alpha')} / CutMix {model_cfg.get('cutmix_alpha')}"
    title = f"{spec.slug}: {len(images)} augmented training images at {datamodule.image_size}px{mixing}"
    return draw_grid(images, soft, target, datamodule.class_names, datamodule.mean, datamodule.std, out, title)
