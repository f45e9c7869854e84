"""The Lightning callbacks `compete` adds to every fold (next to the user's --trainer.callbacks)."""

from __future__ import annotations

from pathlib import Path

from competitions.core.errors import CompeteError
from competitions.core.spec import CompetitionSpec


def fold_progress_bar():
    """Lightning's rich progress bar, without the logger's version number (always "logs" here)."""
    from lightning.pytorch.callbacks import RichProgressBar

    class FoldProgressBar(RichProgressBar):
        def get_metrics(self, trainer, pl_module):
            metrics = super().get_metrics(trainer, pl_module)
            metrics.pop("v_num", None)
            return metrics

    return FoldProgressBar()


def freed_memory_returned(every: float = 1.0):
    """On a CPU, hand freed memory back to the system at most every ``every`` seconds of training or
    prediction (core/memory.py: without it a 300,000-image prediction grew to 2-3x its live memory)."""
    import time

    from lightning.pytorch.callbacks import Callback

    from competitions.core.memory import release_freed_memory

    class FreedMemoryReturned(Callback):
        def __init__(self) -> None:
            self.last = time.monotonic()

        def _maybe(self, trainer) -> None:
            if trainer.strategy.root_device.type == "cpu" and time.monotonic() - self.last >= every:
                release_freed_memory()
                self.last = time.monotonic()

        def on_train_batch_end(self, trainer, *args) -> None:
            self._maybe(trainer)

        def on_predict_batch_end(self, trainer, *args) -> None:
            self._maybe(trainer)

        def on_validation_batch_end(self, trainer, *args) -> None:
            self._maybe(trainer)

    return FreedMemoryReturned()


def fold_checkpoint(spec: CompetitionSpec, fold_dir: Path):
    """best.ckpt (by the competition's monitored validation metric) and last.ckpt in fold<k>/."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    return ModelCheckpoint(
        dirpath=fold_dir,
        filename="best",
        monitor=spec.monitor,
        mode=spec.monitor_mode,
        save_last=True,
        auto_insert_metric_name=False,
        enable_version_counter=False,
    )


def early_stopping(spec: CompetitionSpec, patience: int):
    from lightning.pytorch.callbacks import EarlyStopping

    return EarlyStopping(monitor=spec.monitor, mode=spec.monitor_mode, patience=patience)


def rng_state():
    """Saves the Python, NumPy and torch random states in every checkpoint and restores them on resume
    (Lightning restores the loops, optimizers and schedulers, not these)."""
    import random

    import numpy as np
    import torch
    from lightning.pytorch.callbacks import Callback

    class RNGState(Callback):
        def state_dict(self) -> dict:
            name, keys, pos, has_gauss, gauss = np.random.get_state()
            # Plain types and tensors only: checkpoints are read back with torch.load(weights_only=True).
            numpy_state = [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)]
            state = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
            if torch.cuda.is_available():
                state["cuda"] = torch.cuda.get_rng_state_all()
            return state

        def load_state_dict(self, state: dict) -> None:
            random.setstate(state["python"])
            name, keys, pos, has_gauss, gauss = state["numpy"]
            np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
            torch.set_rng_state(state["torch"])
            if "cuda" in state and torch.cuda.is_available():
                restore_cuda_states(state["cuda"])

    return RNGState()


def restore_cuda_states(states: list) -> None:
    """The saved per-GPU random states, for the GPUs this process sees: a run saved on 8 GPUs and resumed
    on fewer (or more) restores the ones both have (torch's set_rng_state_all raises an IndexError)."""
    import torch

    for device, state in enumerate(states[: torch.cuda.device_count()]):
        torch.cuda.set_rng_state(state, device)


def interruptible(trainer, method: str, *args, **kwargs):
    """``trainer.fit/predict(...)``, with Ctrl-C raised as KeyboardInterrupt again: Lightning catches it,
    shuts down cleanly, ignores further Ctrl-C and calls sys.exit(1), so the caller could not tell."""
    import signal

    handler = signal.getsignal(signal.SIGINT)
    try:
        return getattr(trainer, method)(*args, **kwargs)
    except SystemExit:
        if trainer.interrupted:
            raise KeyboardInterrupt from None
        raise
    finally:
        if handler is not None and signal.getsignal(signal.SIGINT) != handler:
            signal.signal(signal.SIGINT, handler)


def predict_outputs(trainer, model, data, **kwargs) -> list:
    """``trainer.predict(model, datamodule=data)`` (interruptible). Under DDP a process may get no batch at
    all (12 test images in one batch of 16: the second process has none); Lightning refuses such a loader
    unless the model allows it, and the gather afterwards takes the rows from the processes that had some."""
    model.allow_zero_length_dataloader_with_multiple_devices = True
    return interruptible(trainer, "predict", model, datamodule=data, **kwargs)


def shared_run_folder(run_root: Path):
    """Under DDP, before the first step: every process must see the run folder rank 0 writes (its
    best.ckpt is what every process predicts the out-of-fold rows with). Nodes with a disk of their own
    would predict with their last-epoch weights and mix them in silently; refused on every process."""
    import uuid

    from lightning.pytorch.callbacks import Callback

    class SharedRunFolder(Callback):
        def on_fit_start(self, trainer, pl_module) -> None:
            if trainer.world_size < 2:
                return
            token = trainer.strategy.broadcast(uuid.uuid4().hex)  # rank 0's
            probe = Path(run_root) / f".shared-{token}"
            if trainer.is_global_zero:
                probe.parent.mkdir(parents=True, exist_ok=True)
                probe.touch()
            trainer.strategy.barrier("compete-shared-run-folder")
            everywhere = trainer.strategy.reduce_boolean_decision(probe.exists(), all=True)
            trainer.strategy.barrier("compete-shared-run-folder-checked")
            if trainer.is_global_zero:
                probe.unlink(missing_ok=True)
            if not everywhere:
                raise CompeteError(f"{run_root}: not the same folder in every process (another node has a disk of "
                                   "its own?); every process reads the checkpoints rank 0 writes there: put "
                                   "`runs_dir` on a filesystem all nodes share")  # fmt: skip

    return SharedRunFolder()


def run_estimate(folds: int, fold_overhead: float = 0.0):
    """After the first epoch of a fit without `budget`: one line with the time the whole fit will take
    (that epoch's seconds x the epochs x the folds still to train; "at most" with early stopping)."""
    import time

    from lightning.pytorch.callbacks import Callback

    from competitions.core.console import info

    class RunEstimate(Callback):
        def on_train_epoch_start(self, trainer, pl_module) -> None:
            self.started = time.perf_counter()

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            if trainer.current_epoch != 0 or not trainer.is_global_zero or trainer.sanity_checking:
                return
            epoch = time.perf_counter() - self.started
            epochs = max(1, int(trainer.max_epochs or 1))
            total = folds * (epochs * epoch + fold_overhead)
            bound = "at most " if any(type(c).__name__ == "EarlyStopping" for c in trainer.callbacks) else ""
            info(f"estimate: the fit takes {bound}about {format_seconds(total)} (an epoch {epoch:.1f} s x {epochs} "
                 f"epochs x {folds} fold{'s' if folds > 1 else ''}); --budget sets a limit instead")  # fmt: skip

    return RunEstimate()


def format_seconds(seconds: float) -> str:
    """90 -> '1 min 30 s'; 5400 -> '1 h 30 min'."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def budget_guard(plan, deadline: float, fold: int):
    """`budget`, the last fold a plan trains: at a few of its epochs (fit_budget.guard_checks), the
    measured epoch time corrects its epochs (fit_budget.guard_epochs) and the LR schedule is stretched or
    squeezed to end with them (lightning_modules/optim.py: stretch), so the run ends within its budget on a
    machine slower or faster than its probe."""
    import time

    from lightning.pytorch.callbacks import Callback

    from competitions.core.console import info
    from competitions.pipeline.fit_budget import GUARD_MARGIN, guard_checks, guard_epochs
    from lightning_modules.optim import stretch

    class BudgetGuard(Callback):
        def __init__(self) -> None:
            self.ends: list[float] = []
            self.checks = guard_checks(plan.epochs)

        def on_train_epoch_start(self, trainer, pl_module) -> None:
            if not self.ends:
                self.ends.append(time.time())

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            self.ends.append(time.time())
            done, planned = len(self.ends) - 1, trainer.fit_loop.max_epochs
            if done not in self.checks or done >= planned:
                return
            spans = [b - a for a, b in zip(self.ends, self.ends[1:], strict=False)]
            epoch = sum(spans[1:]) / len(spans[1:]) if len(spans) > 1 else spans[0]
            reserve = plan.predict_start + plan.predict_steps * plan.rates.eval_step * epoch / max(plan.epoch_seconds(), 1e-9)
            epochs = guard_epochs(planned, done, epoch, deadline - time.time(), reserve, GUARD_MARGIN * plan.budget)
            if epochs != planned:
                info(f"budget: fold {fold}'s epochs take {epoch:.1f} s (planned {plan.epoch_seconds():.1f} s): "
                     f"{epochs} epochs, not {planned}")  # fmt: skip
                trainer.fit_loop.max_epochs = epochs
                for config in trainer.lr_scheduler_configs:
                    stretch(config.scheduler, epochs * trainer.num_training_batches // trainer.accumulate_grad_batches)

    return BudgetGuard()
