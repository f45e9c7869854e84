"""Fine-tuning pretrained timm backbones: weights, a frozen-backbone warm start, discriminative and
layer-wise learning rates, and a head initialised from the pretrained classifier's matching classes.

In the spirit of Lightning's ``BaseFinetuning``, with one deliberate difference: a frozen backbone
keeps ``requires_grad=True`` and has its gradients dropped before each optimizer step. Toggling
``requires_grad`` after DDP has wrapped the model would leave the unfrozen layers unsynchronised
across GPUs; dropping gradients is DDP-safe, and because the freeze state follows from the epoch
number and the parameter groups never change, a run resumed from ``last.ckpt`` continues exactly.
"""

from __future__ import annotations

import torch
from timm.optim._param_groups import param_groups_layer_decay
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from competitions.core.console import info
from competitions.core.errors import CompeteError
from lightning_modules.pretrained import align_to_model, hub_state_dict, match_imagenet_classes, read_state_dict


class FineTuningMixin:
    def __init__(
        self,
        *args,
        pretrained: bool = False,
        pretrained_path: str | None = None,
        freeze_epochs: int = 0,
        backbone_lr_ratio: float = 1.0,
        layer_decay: float | None = None,
        head_init: bool = True,
        head_init_synonyms: dict[str, str] | None = None,
        **kwargs,
    ) -> None:
        """
        Args:
            pretrained: start from timm's pretrained weights (hub download, needs internet once).
            pretrained_path: start from a local weights file instead (.pth/.pt/.safetensors).
            freeze_epochs: train only the head for the first N epochs (BatchNorm of the backbone stays in eval mode).
            backbone_lr_ratio: backbone LR = head LR x ratio (discriminative learning rates).
            layer_decay: layer-wise LR decay (e.g. 0.75): each block deeper from the head gets LR x decay.
            head_init: copy the pretrained classifier's rows for classes whose names match ImageNet-1k classes.
            head_init_synonyms: target class -> ImageNet class name, where the spellings differ.
        """
        super().__init__(*args, **kwargs)
        self.head_matches: dict[int, int] = {}
        if pretrained or pretrained_path:
            self.load_pretrained()

    @classmethod
    def checkpoint_overrides(cls) -> dict:
        # A trained checkpoint holds its own weights: never fetch or read the pretrained ones again.
        return {**super().checkpoint_overrides(), "pretrained": False, "pretrained_path": None}

    # ---- weights -----------------------------------------------------------------------
    def load_pretrained(self) -> None:
        hp = self.hparams
        if hp.pretrained_path:
            state, source = read_state_dict(hp.pretrained_path), str(hp.pretrained_path)
        else:
            state, source = hub_state_dict(hp.backbone), f"timm hub weights of {hp.backbone}"
        import timm

        # Align names against the architecture with its original head, then keep the source head aside.
        reference = timm.create_model(hp.backbone, pretrained=False)
        state = align_to_model(reference, state, source)
        head_name = reference.default_cfg.get("classifier", "classifier")
        head_name = head_name[0] if isinstance(head_name, (list, tuple)) else head_name
        source_head = {k.removeprefix(head_name + "."): v for k, v in state.items() if k.startswith(head_name + ".")}
        body = {k: v for k, v in state.items() if not k.startswith(head_name + ".")}
        own = self.model.state_dict()
        skipped = [k for k, v in body.items() if k in own and own[k].shape != v.shape]
        if skipped and not hp.small_input_stem:
            raise CompeteError(
                f"{source}: {skipped[0]} has shape {tuple(body[skipped[0]].shape)}, "
                f"the model expects {tuple(own[skipped[0]].shape)}"
            )
        body = {k: v for k, v in body.items() if k not in skipped}
        missing, unexpected = self.model.load_state_dict(body, strict=False)
        missing = [k for k in missing if not k.startswith(head_name + ".") and k not in skipped]
        if missing or unexpected:
            raise CompeteError(
                f"{source}: does not fit {hp.backbone} (missing {missing[:3]}, unexpected {unexpected[:3]})"
            )
        if hp.head_init and "weight" in source_head:
            self.init_head_from_source(source_head["weight"], source_head.get("bias"))

    def init_head_from_source(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        """Copy the source classifier's rows of the classes whose names match ours."""
        names = self.hparams.class_names
        if not names or weight.shape[0] != 1000:
            return
        head: nn.Linear = self.model.get_classifier()
        self.head_matches = match_imagenet_classes(names, self.hparams.head_init_synonyms)
        with torch.no_grad():
            for target, source in self.head_matches.items():
                head.weight[target] = weight[source]
                if bias is not None and head.bias is not None:
                    head.bias[target] = bias[source]
        info(f"head: {len(self.head_matches)} of {len(names)} classes initialised from matching ImageNet-1k classes")

    # ---- freezing ----------------------------------------------------------------------
    def head_parameters(self) -> set[int]:
        return {id(p) for p in self.model.get_classifier().parameters()}

    def backbone_frozen(self) -> bool:
        return self._trainer is not None and self.current_epoch < self.hparams.freeze_epochs

    def train(self, mode: bool = True):
        super().train(mode)
        if mode and self.backbone_frozen():
            head = set(self.model.get_classifier().modules())
            for module in self.model.modules():
                if isinstance(module, _BatchNorm) and module not in head:
                    module.eval()
        return self

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        self.train(True)  # re-applies the BatchNorm rule for this epoch

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        super().on_before_optimizer_step(optimizer)
        if self.backbone_frozen():
            head = self.head_parameters()
            for param in self.model.parameters():
                if id(param) not in head:
                    param.grad = None  # the optimizer skips it: no update, no weight decay, no momentum

    # ---- learning rates ----------------------------------------------------------------
    def optimizer_param_groups(self) -> list[dict]:
        hp = self.hparams
        if hp.layer_decay is None and hp.backbone_lr_ratio == 1.0:
            return super().optimizer_param_groups()
        if hp.layer_decay is not None:
            groups = param_groups_layer_decay(self.model, hp.weight_decay, layer_decay=hp.layer_decay)
        else:
            groups = [{**g, "lr_scale": 1.0} for g in super().optimizer_param_groups()]
        head = self.head_parameters()
        out = []
        for group in groups:
            for is_head in (True, False):
                params = [p for p in group["params"] if (id(p) in head) == is_head]
                if params:
                    scale = group.get("lr_scale", 1.0) * (1.0 if is_head else hp.backbone_lr_ratio)
                    out.append({"params": params, "weight_decay": group["weight_decay"], "lr_scale": scale})
        return out

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["finetuning"] = {"backbone_frozen": self.backbone_frozen(), "head_matches": self.head_matches}
