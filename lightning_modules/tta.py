"""Test-time augmentation: predict several views of each image and merge their *probabilities*.

Like ttach: tiny view transforms, a merger, used only at predict time. Unlike ttach, the merge is
over softmax probabilities (arithmetic or geometric mean), never over raw logits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import lightning as L
import torch
import torch.nn.functional as F

from competitions.core.errors import CompeteError


@dataclass(frozen=True)
class View:
    name: str
    apply: Callable[[torch.Tensor], torch.Tensor]
    invert: Callable[[torch.Tensor], torch.Tensor] | None = None  # None: not invertible


def _shift(dx: int, dy: int) -> Callable[[torch.Tensor], torch.Tensor]:
    def apply(x: torch.Tensor) -> torch.Tensor:
        pad = max(abs(dx), abs(dy))
        padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
        h, w = x.shape[-2:]
        return padded[..., pad - dy : pad - dy + h, pad - dx : pad - dx + w]

    return apply


def _crop(position: str, fraction: float) -> Callable[[torch.Tensor], torch.Tensor]:
    def apply(x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ch, cw = max(1, round(h * fraction)), max(1, round(w * fraction))
        top = {"tl": 0, "tr": 0, "bl": h - ch, "br": h - ch, "c": (h - ch) // 2}[position]
        left = {"tl": 0, "tr": w - cw, "bl": 0, "br": w - cw, "c": (w - cw) // 2}[position]
        crop = x[..., top : top + ch, left : left + cw]
        return F.interpolate(crop, size=(h, w), mode="bilinear", align_corners=False)

    return apply


def _scale(factor: float) -> Callable[[torch.Tensor], torch.Tensor]:
    def apply(x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        sh, sw = max(1, round(h * factor)), max(1, round(w * factor))
        resized = F.interpolate(x, size=(sh, sw), mode="bilinear", align_corners=False)
        if factor >= 1:  # zoom in: centre crop back to size
            top, left = (sh - h) // 2, (sw - w) // 2
            return resized[..., top : top + h, left : left + w]
        pad_h, pad_w = h - sh, w - sw  # zoom out: reflect-pad back to size
        return F.pad(resized, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2), mode="reflect")

    return apply


def _flip(dim: int) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda x: x.flip(dim)


def expand_views(
    names: Sequence[str], shift: int = 2, crop_fraction: float = 0.875, scales: Sequence[float] = (0.9, 1.1)
) -> list[View]:
    """Names -> views. Group names expand: ``shift`` (4 shifts), ``five_crop`` (5 crops), ``scale``."""
    views: dict[str, View] = {}
    for name in names:
        if name == "identity":
            views[name] = View(name, lambda x: x, lambda x: x)
        elif name in ("hflip", "vflip"):
            dim = -1 if name == "hflip" else -2
            views[name] = View(name, _flip(dim), _flip(dim))
        elif name == "shift":
            for dx, dy in ((shift, 0), (-shift, 0), (0, shift), (0, -shift)):
                views[f"shift{dx:+d},{dy:+d}"] = View(f"shift{dx:+d},{dy:+d}", _shift(dx, dy))
        elif name == "five_crop":
            for pos in ("tl", "tr", "bl", "br", "c"):
                views[f"crop_{pos}"] = View(f"crop_{pos}", _crop(pos, crop_fraction))
        elif name == "scale":
            for factor in scales:
                views[f"scale{factor:g}"] = View(f"scale{factor:g}", _scale(factor))
        else:
            raise CompeteError(f"unknown TTA view {name!r}; choose from {', '.join(VIEW_GROUPS)}")
    return list(views.values())


VIEW_GROUPS = ("identity", "hflip", "vflip", "shift", "five_crop", "scale")


def merge_probabilities(probs: torch.Tensor, how: str = "mean") -> torch.Tensor:
    """Merge [views, batch, classes] probabilities into [batch, classes] probabilities."""
    if how == "mean":
        return probs.mean(0)
    if how == "gmean":
        merged = probs.clamp_min(1e-12).log().mean(0).exp()
        return merged / merged.sum(-1, keepdim=True)
    raise CompeteError(f"unknown TTA merge {how!r}; choose mean or gmean")


def view_probabilities(model, images: torch.Tensor, views: Sequence[View]) -> torch.Tensor:
    """Class probabilities of every view of ``images``: [views, batch, classes]."""
    return torch.stack([model.predict_probabilities(view.apply(images)) for view in views])


class TTA(L.LightningModule):
    """A classifier wrapped for test-time augmentation (ttach-style), used only at predict time.

    ``TTA(model, views=["identity", "hflip"], merge="mean")`` predicts every view and merges the
    *probabilities*; ``keep_views=True`` also returns each view's probabilities (``views``: [batch,
    views, classes]), which `compete predict --tta auto` scores view by view. The wrapped model is
    not changed: its own recipe (``model.tta``) stays what it was trained with.
    """

    def __init__(self, model, views: Sequence[str], merge: str = "mean", keep_views: bool = False) -> None:
        super().__init__()
        self.model = model
        self.views = expand_views(views)
        if not self.views:  # no TTA: the plain prediction, exactly
            self.views, merge = expand_views(["identity"]), "mean"
        self.merge = merge
        self.keep_views = keep_views
        merge_probabilities(torch.ones(1, 1, 1), merge)  # fail early on an unknown merge

    @property
    def view_names(self) -> list[str]:
        return [view.name for view in self.views]

    def predict_step(self, batch: dict, batch_idx: int) -> dict[str, torch.Tensor]:
        per_view = view_probabilities(self.model, batch["image"], self.views)
        out = {"index": batch["index"], "probs": merge_probabilities(per_view, self.merge)}
        if self.keep_views:
            out["views"] = per_view.transpose(0, 1)  # [batch, views, classes]
        return out


class TTAMixin:
    """The model's own TTA recipe (``tta``, ``tta_merge``), stored with its checkpoint and applied by
    a plain ``trainer.predict(model)``; `compete predict --tta` wraps the model in ``TTA`` instead."""

    supports_tta = True

    def __init__(self, *args, tta: list[str] | None = None, tta_merge: str = "mean", **kwargs) -> None:
        """
        Args:
            tta: test-time views, e.g. [identity, hflip]; groups: shift, five_crop, scale. Empty = off.
            tta_merge: merge the views' probabilities with their mean or geometric mean (gmean).
        """
        super().__init__(*args, **kwargs)
        expand_views(tta or [])  # fail early on an unknown name
        merge_probabilities(torch.ones(1, 1, 1), tta_merge)

    def tta_views(self) -> list[View]:
        """The views of the model's own recipe."""
        return expand_views(self.hparams.tta or [])

    def predict_step(self, batch: dict, batch_idx: int) -> dict[str, torch.Tensor]:
        views = self.tta_views()
        if not views:
            return super().predict_step(batch, batch_idx)
        per_view = view_probabilities(self, batch["image"], views)
        return {"index": batch["index"], "probs": merge_probabilities(per_view, self.hparams.tta_merge)}


def select_views(
    per_view: torch.Tensor | Sequence,
    view_names: Sequence[str],
    candidates: Sequence[str],
    score: Callable[[torch.Tensor], float],
    better: Callable[[float, float], bool],
    merge: str = "mean",
) -> tuple[list[str], list[dict]]:
    """Greedy forward selection of view groups on out-of-fold predictions.

    ``per_view`` is [rows, views, classes] for the expanded ``view_names``. Starting from
    ``identity``, each candidate group is kept only if adding it improves ``score`` of the merged
    probabilities. Returns the chosen groups and one record per step.
    """
    per_view = torch.as_tensor(per_view)
    members = {group: [v.name for v in expand_views([group])] for group in ["identity", *candidates]}

    def merged_score(groups: list[str]) -> float:
        idx = [view_names.index(name) for g in groups for name in members[g]]
        return float(score(merge_probabilities(per_view[:, idx].transpose(0, 1), merge)))

    chosen = ["identity"]
    best = merged_score(chosen)
    steps = [{"views": list(chosen), "score": best, "kept": True}]
    for group in candidates:
        trial = merged_score([*chosen, group])
        kept = better(trial, best)
        steps.append({"add": group, "score": trial, "kept": kept})
        if kept:
            chosen, best = [*chosen, group], trial
    return chosen, steps
