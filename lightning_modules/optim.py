"""Optimizers and learning-rate schedules shared by every LightningModule of the project."""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

OptimizerName = Literal["sgd", "adamw"]
SchedulerName = Literal["cosine", "onecycle", "constant"]


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """timm's split: no weight decay on biases and normalisation weights (1-d tensors); decay group first."""
    from timm.optim import param_groups_weight_decay

    no_decay, decay = param_groups_weight_decay(model, weight_decay)
    return [decay, no_decay]


def build_optimizer(
    groups: list[dict], name: OptimizerName, lr: float, momentum: float = 0.9, nesterov: bool = True
) -> torch.optim.Optimizer:
    """timm's ``create_optimizer_v2`` on our parameter groups (each keeps its own weight decay)."""
    from timm.optim import create_optimizer_v2

    if name not in ("sgd", "adamw"):
        raise ValueError(f"unknown optimizer {name!r}; choose sgd or adamw")
    opt = "adamw" if name == "adamw" else ("sgd" if nesterov and momentum > 0 else "momentum")  # timm's sgd is Nesterov
    return create_optimizer_v2(groups, opt=opt, lr=lr, momentum=momentum, weight_decay=0.0)


# The schedules stay ours, not timm's: timm's schedulers are stepped by hand with the update count
# (``step_update``), so a LightningModule would have to override ``lr_scheduler_step``; these are plain
# torch LRSchedulers that Lightning steps per optimizer step, and their warm-up is given in epochs and
# converted with the Trainer's own estimate of the steps (accumulation, devices and limits included).
def warmup_cosine(step: int, total: int, warmup: int, min_ratio: float) -> float:
    """LR multiplier: linear warm-up from ~0 to 1 over ``warmup`` steps, then cosine to ``min_ratio``."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    name: SchedulerName,
    total_steps: int,
    warmup_steps: int,
    min_lr_ratio: float = 0.0,
) -> torch.optim.lr_scheduler.LRScheduler:
    """A per-step schedule; ``onecycle`` uses its own warm-up share (``warmup_steps / total_steps``).
    Its length can change while it runs (``stretch``)."""
    total_steps = max(1, total_steps)
    horizon = {"total": total_steps}  # read at every step: stretch() moves the end
    if name == "cosine":
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: warmup_cosine(step, horizon["total"], warmup_steps, min_lr_ratio)
        )
    elif name == "onecycle" and total_steps < 4:  # too short for its two phases (a smoke test): a constant LR
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    elif name == "onecycle":
        max_lrs = [group["lr"] for group in optimizer.param_groups]
        pct = min(0.5, max(warmup_steps / total_steps, 2 / total_steps))  # each phase at least one step
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=max_lrs, total_steps=total_steps, pct_start=pct, anneal_strategy="cos"
        )
    elif name == "constant":
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0
        )
    else:
        raise ValueError(f"unknown scheduler {name!r}; choose cosine, onecycle or constant")
    schedule.horizon = horizon
    return schedule


def stretch(schedule: torch.optim.lr_scheduler.LRScheduler, total_steps: int) -> None:
    """Make a running schedule of ``build_scheduler`` end at ``total_steps`` (a budget's correction of a
    fold's epochs): the warm-up stays as it was, the decay is stretched or squeezed from where it is."""
    total_steps = max(total_steps, schedule.last_epoch + 1)
    if isinstance(schedule, torch.optim.lr_scheduler.OneCycleLR):
        schedule.total_steps = total_steps
        phases = schedule._schedule_phases  # warm-up then decay; torch keeps their last steps here
        phases[0]["end_step"] = min(phases[0]["end_step"], total_steps - 2)
        phases[-1]["end_step"] = float(total_steps - 1)
    elif getattr(schedule, "horizon", None) is not None:
        schedule.horizon["total"] = total_steps


def configure_optimization(
    module,
    groups: list[dict],
    optimizer: OptimizerName,
    peak_lr: float,
    scheduler: SchedulerName,
    warmup_epochs: float,
    min_lr_ratio: float = 0.0,
    momentum: float = 0.9,
    nesterov: bool = True,
) -> dict:
    """``configure_optimizers``' return value: the optimizer and a per-step schedule whose warm-up is
    given in epochs. A group may carry ``lr_scale`` (its LR = peak LR x lr_scale)."""
    for group in groups:
        group["lr"] = peak_lr * group.pop("lr_scale", 1.0)
    opt = build_optimizer(groups, optimizer, peak_lr, momentum, nesterov)
    trainer = module.trainer
    total = int(trainer.estimated_stepping_batches)
    batches = trainer.num_training_batches
    if isinstance(batches, (int, float)) and 0 < batches < float("inf"):
        steps_per_epoch = max(1, int(batches) // max(1, trainer.accumulate_grad_batches))
    else:
        steps_per_epoch = max(1, total // max(1, trainer.max_epochs or 1))
    warmup = int(round(warmup_epochs * steps_per_epoch))
    schedule = build_scheduler(opt, scheduler, total, warmup, min_lr_ratio)
    return {"optimizer": opt, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
