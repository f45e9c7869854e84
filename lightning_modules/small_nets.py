"""A compact residual net for 32-64 px images (ResNet-9, after Myrtle.ai's DAWNBench CIFAR-10 entry
and Keller Jordan's airbench), registered with timm so that ``--model.backbone`` can name it:

    resnet9         widths 64-128-256-512, 6.6 M parameters: the GPU recipe (94% on cifar-10 in a few minutes)
    resnet9_narrow  widths 32-64-128-256, 1.6 M parameters: the CPU recipe (`fast` presets)
    resnet9_tiny    widths 16-32-64-128, 0.4 M parameters: the rung a short CPU budget steps down to
                    (a third of resnet9_narrow's time per step, 1.5 times a plain 3-block CNN's)
    cnn3            three conv-BN-ReLU-max-pool blocks, 32-64-128, 0.1 M parameters, no residuals: the
                    last rung at 32 px (what a hand-written CPU baseline trains; the most steps a minute buys)
    cnn4            four such blocks, 32-64-128-256, 0.4 M parameters: the last rung at 64 px (cnn3's last
                    features see a 22 px window, cnn4's 46 px)

Conv-BN-ReLU blocks with max-pooling between stages, two residual blocks, a global max-pool and a
linear head whose logits are scaled by 1/8 (keeps early training stable at high learning rates).
It has its own small stem: use it with ``model.small_input_stem: false``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from timm.models import register_model
from torch import nn


def conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn(channels, channels), conv_bn(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResNet9(nn.Module):
    def __init__(self, widths: Sequence[int] = (64, 128, 256, 512), num_classes: int = 10, in_chans: int = 3,
                 drop_rate: float = 0.0, logit_scale: float = 0.125) -> None:  # fmt: skip
        super().__init__()
        w0, w1, w2, w3 = widths
        self.num_classes = num_classes
        self.num_features = w3
        self.drop_rate = drop_rate
        self.logit_scale = logit_scale
        self.features = nn.Sequential(
            conv_bn(in_chans, w0),
            conv_bn(w0, w1), nn.MaxPool2d(2), Residual(w1),
            conv_bn(w1, w2), nn.MaxPool2d(2),
            conv_bn(w2, w3), nn.MaxPool2d(2), Residual(w3),
        )  # fmt: skip
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Linear(w3, num_classes) if num_classes else nn.Identity()

    # the timm model interface the fine-tuning mixin uses
    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        self.num_classes = num_classes
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.pool(x), 1)
        x = nn.functional.dropout(x, self.drop_rate, self.training) if self.drop_rate else x
        return x if pre_logits else self.fc(x) * self.logit_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


class PlainCNN(ResNet9):
    """Three conv-BN-ReLU blocks, each halving the image (max-pool), then ResNet-9's pooled, scaled head."""

    def __init__(self, widths: Sequence[int] = (32, 64, 128), **kwargs) -> None:
        super().__init__((*widths[:3], widths[-1]), **kwargs)  # ResNet-9's head on the last width
        chans = [kwargs.get("in_chans", 3), *widths]
        self.features = nn.Sequential(*(layer for c_in, c_out in zip(chans, chans[1:], strict=False)
                                        for layer in (*conv_bn(c_in, c_out), nn.MaxPool2d(2))))  # fmt: skip


def _create(widths: Sequence[int], pretrained: bool, net: type = ResNet9, **kwargs) -> ResNet9:
    if pretrained:
        raise ValueError(f"{net.__name__} has no pretrained weights; train it from scratch (model.pretrained: false)")
    for key in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):  # timm passes these to every model
        kwargs.pop(key, None)
    return net(widths, **kwargs)


@register_model
def resnet9(pretrained: bool = False, **kwargs) -> ResNet9:
    """ResNet-9, widths 64-128-256-512."""
    return _create((64, 128, 256, 512), pretrained, **kwargs)


@register_model
def resnet9_narrow(pretrained: bool = False, **kwargs) -> ResNet9:
    """ResNet-9 at half width (32-64-128-256): a quarter of the compute, for CPUs."""
    return _create((32, 64, 128, 256), pretrained, **kwargs)


@register_model
def resnet9_tiny(pretrained: bool = False, **kwargs) -> ResNet9:
    """ResNet-9 at a quarter width (16-32-64-128): the `fast` presets' budget ladder rung."""
    return _create((16, 32, 64, 128), pretrained, **kwargs)


@register_model
def cnn3(pretrained: bool = False, **kwargs) -> PlainCNN:
    """A plain 3-block CNN (32-64-128): the last rung of the `fast` presets' budget ladder."""
    return _create((32, 64, 128), pretrained, PlainCNN, **kwargs)


@register_model
def cnn4(pretrained: bool = False, **kwargs) -> PlainCNN:
    """A plain 4-block CNN (32-64-128-256): ``cnn3`` with one more halving, so that its last features see
    most of a 64 px image (cnn3's see a 22 px window, enough at 32 px): the 64 px presets' last rung."""
    return _create((32, 64, 128, 256), pretrained, PlainCNN, **kwargs)
