"""An exponential moving average of the weights (timm's ``ModelEmaV3``), as the model that is
validated, checkpointed and predicts.

``ema_decay`` (e.g. 0.999) keeps a copy of the network whose weights follow the trained ones
slowly; it is updated after every optimizer step. Outside training (validation, predict, TTA) the
module's forward uses the average, so ``val/*`` scores, the choice of ``best.ckpt`` and the
predictions are the average's. The copy is a submodule: it is saved in every checkpoint beside the
trained weights and restored with them, so a resumed run keeps its average.
"""

from __future__ import annotations

import torch


class EMAMixin:
    def __init__(self, *args, ema_decay: float | None = None, ema_warmup: bool = True, **kwargs) -> None:
        """
        Args:
            ema_decay: keep an exponential moving average of the weights with this decay (e.g. 0.999) and
                validate, checkpoint and predict with it; None: off.
            ema_warmup: ramp the decay up over the first steps (timm's warm-up), so a short run is not
                dominated by its random initial weights.
        """
        super().__init__(*args, **kwargs)
        self.ema = None
        if ema_decay:
            from timm.utils import ModelEmaV3

            self.ema = ModelEmaV3(self.model, decay=ema_decay, use_warmup=ema_warmup)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.ema is not None and not self.training:
            return self.ema.module(images)
        return super().forward(images)

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        super().on_train_batch_end(outputs, batch, batch_idx)
        if self.ema is not None:
            self.ema.update(self.model, step=self.global_step)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.ema is not None:
            self.ema.module.eval()  # the average never trains: its BatchNorm keeps the copied statistics
        return self
