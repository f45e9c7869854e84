"""A wall-clock budget for a whole k-fold run: `compete fit SLUG --budget 10m`.

Before the folds, a short probe trains a throwaway copy of the model for a few steps on the first
fold and times a training step and an evaluation step (the first steps, which pay for start-up, are
left out). From those, the number of epochs is chosen so that every fold's training and validation,
its out-of-fold prediction and the test prediction of `compete predict` (its start and the test
images' cache, built inside the fit's time) fit in what is left of the budget. The time that whole
epochs leave over is not thrown away: when one epoch more, each of fewer batches (``limit_train_batches``),
trains more steps, the plan takes it (the schedules are built from the steps, so they stay whole).
After each fold the rest are re-planned from its measured time; the last fold corrects itself from its
own epochs (``guard_epochs``: fewer, or more, with its LR schedule stretched to end with them).
When every fold would get fewer epochs than the recipe needs (``budget_min_epochs``), fewer folds
are trained: 3, then a single hold-out fold (the others stay untrained; `compete fit --resume` trains
them later, and predict averages the folds the plan trained); after them the preset's smaller models
and image sizes (``budget_ladder``) and, last, the smallest without its TTA views (pipeline/fit.py:
budget_rungs).
Setting ``max_epochs`` (rather than cutting training off, as Lightning's ``max_time`` does) keeps every
schedule whole: warm-up, cosine decay, mixup's last clean epochs. Under DDP the launching process plans and the processes it starts
read the plan from the environment.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from dataclasses import asdict, dataclass, replace

from competitions.core.errors import BudgetError, OptionError

PLAN_VARIABLE = "COMPETE_BUDGET_EPOCHS"  # the launching process's plan, for the DDP processes it starts
FOLDS_VARIABLE = "COMPETE_BUDGET_FOLDS"  # and the folds it chose to train ("0,1,2")
BATCHES_VARIABLE = "COMPETE_BUDGET_BATCHES"  # and the training batches of each epoch (each process's)
SETTINGS_VARIABLE = "COMPETE_BUDGET_SETTINGS"  # and what its ladder stepped down to (JSON: {"model.backbone": ...})
PROBE_STEPS = 8  # training (and validation) steps per probe epoch; the probe runs two epochs
EARLY_STEPS = 3  # a rung with a smaller one below it is judged after this many steps (past the first)
GUARD_MARGIN = 0.03  # the last fold adds epochs only when they leave this share of the budget to spare
OPTIMISM = 0.6  # and passed over only when even this share of those steps' time would train too few epochs
SAFETY = 0.95  # plan for this share of what is left: a probe of a few steps misses some of a real epoch's costs
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(h|m|s)")


def parse_duration(text: str, what: str = "budget") -> float:
    """'10m', '90s', '1h30m', '45' (seconds) -> seconds."""
    text = str(text).strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    parts = _DURATION.findall(text)
    if not parts or _DURATION.sub("", text).strip():
        raise OptionError(f"`{what}` {text!r}: write a duration like 90s, 10m or 1h30m")
    return sum(float(n) * {"h": 3600, "m": 60, "s": 1}[unit] for n, unit in parts)


@dataclass
class Rates:
    """What the probe measured (seconds)."""

    train_step: float
    eval_step: float
    epoch_overhead: float  # an epoch's cost beyond its steps: loaders, logging, checkpoints
    fold_overhead: float  # a fold's fixed cost: building the Trainer, the model, the first loaders


@dataclass
class Plan:
    budget: float
    spent_before: float  # seconds already gone when the plan was made (data checks, caches, the probe)
    folds: int
    train_steps: int  # per epoch and fold
    eval_steps: int  # validation batches per epoch and fold
    predict_steps: int  # out-of-fold + test batches per fold
    rates: Rates
    epochs: int = 0
    processes: int = 1  # DDP: the steps above are each process's share; its processes start again (spent_before)
    predict_start: float = 0.0  # `compete predict`'s own start (its imports) before it predicts
    train_batches: int = 0  # the training batches of each epoch the plan trains; 0: all (train_steps)

    def batches(self) -> int:
        return min(self.train_batches or self.train_steps, self.train_steps)

    def epoch_seconds(self) -> float:
        return self.batches() * self.rates.train_step + self.eval_steps * self.rates.eval_step + self.rates.epoch_overhead

    def fixed_seconds(self) -> float:
        restart = self.spent_before if self.processes > 1 else 0.0  # DDP's processes import and check the data too
        per_fold = self.rates.fold_overhead + self.predict_steps * self.rates.eval_step
        return self.spent_before + restart + self.predict_start + self.folds * per_fold

    def as_dict(self) -> dict:
        return {**asdict(self), "epoch_seconds": round(self.epoch_seconds(), 3)}


def choose_epochs(plan: Plan, asked: str | None = None) -> int:
    """The most epochs whose whole run (fixed costs + folds x epochs) fits the budget, with a margin; at least
    1. A budget that even one epoch per fold would overrun is refused, saying what it needs."""
    needed = plan.fixed_seconds() + plan.folds * plan.epoch_seconds()
    if needed > plan.budget:
        single = " on a single fold" if plan.folds == 1 else ""
        raise BudgetError(f"`budget` {asked or f'{plan.budget:g}s'}: the smallest plan, 1 epoch per fold{single}, needs "
                          f"about {math.ceil(needed)}s ({plan.fixed_seconds():.0f}s of start-up, probe, set-up and "
                          f"prediction + {plan.folds} fold{'s' if plan.folds > 1 else ''} x an epoch of "
                          f"{plan.epoch_seconds():.1f}s); give it more time{'' if single else ', fewer folds (n_folds)'} "
                          "or a smaller preset")  # fmt: skip
    left = SAFETY * (plan.budget - plan.fixed_seconds())
    per_epoch = max(plan.folds * plan.epoch_seconds(), 1e-9)
    return max(1, math.floor(left / per_epoch))


def fold_ladder(folds: int) -> list[int]:
    """The fold counts a budget tries, most first: every fold, then 3, then 1 (a single hold-out fold)."""
    return sorted({n for n in (folds, 3, 1) if n <= folds}, reverse=True)


def choose_folds(plan: Plan, min_epochs: int, asked: str | None = None) -> tuple[Plan, str]:
    """The first rung of the fold ladder whose folds each get ``min_epochs`` (what the recipe needs to be
    worth training): (that plan, its epochs set; why the rungs above it were passed over, "" when none were).
    Below ``min_epochs`` on every rung: the one-fold plan with as many epochs as fit. A budget that even one
    fold of one epoch would overrun is refused."""
    tried, too_few = [], False  # too_few: a rung was passed over for its epochs, not for not fitting at all
    for folds in fold_ladder(plan.folds):
        rung = replace(plan, folds=folds)
        try:
            rung.epochs = choose_epochs(rung, asked)
        except BudgetError:
            if folds == 1:
                raise
            tried.append(f"{folds} folds: not one epoch each")
            continue
        if rung.epochs >= min_epochs or folds == 1:
            if rung.epochs < min_epochs:
                tried.append(f"1 fold: {rung.epochs}, still under the recipe's {min_epochs}, budget_min_epochs")
            elif too_few:
                tried.append(f"under the recipe's {min_epochs} epochs, budget_min_epochs")
            return rung, "; ".join(tried)
        tried.append(f"{folds} folds: {rung.epochs} epoch{'s' if rung.epochs > 1 else ''} each")
        too_few = True
    raise AssertionError("the ladder ends with one fold")  # pragma: no cover


def fill(plan: Plan) -> Plan:
    """``plan`` with its epochs (``choose_epochs``'s whole epochs) and the training batches per epoch that
    train the most steps in the time whole epochs leave: one epoch more, each of fewer batches, when that
    trains more (its extra validation pass is paid for); else every batch."""
    left = SAFETY * (plan.budget - plan.fixed_seconds())
    whole = replace(plan, train_batches=0)
    best = (whole.epochs * whole.batches(), whole)
    if plan.rates.train_step > 0:
        more = plan.epochs + 1
        per_epoch = left / (plan.folds * more) - plan.eval_steps * plan.rates.eval_step - plan.rates.epoch_overhead
        batches = min(plan.train_steps, math.floor(per_epoch / plan.rates.train_step))
        if batches >= 1 and more * batches > best[0]:
            best = (more * batches, replace(plan, epochs=more, train_batches=0 if batches == plan.train_steps else batches))
    return best[1]


def replan(plan: Plan, fold_seconds: float, epochs_trained: int, folds_left: int, seconds_left: float) -> Plan:
    """The plan of the folds still to train: a trained fold's measured time per epoch (its training and
    validation) rescales the probe's rates, and the epochs and batches that fit what is left follow (at
    least 1 epoch: the run is under way)."""
    measured = max(fold_seconds - plan.rates.fold_overhead, 1e-9) / max(1, epochs_trained)
    scale = measured / max(plan.epoch_seconds(), 1e-9)
    rates = replace(plan.rates, train_step=plan.rates.train_step * scale, eval_step=plan.rates.eval_step * scale,
                    epoch_overhead=plan.rates.epoch_overhead * scale)  # fmt: skip
    rest = replace(plan, budget=seconds_left, spent_before=0.0, folds=folds_left, rates=rates, train_batches=0)
    try:
        rest.epochs = choose_epochs(rest)
    except BudgetError:
        rest.epochs = 0  # not one whole epoch left per fold: one of as many batches as fit
    filled = fill(rest)
    return filled if filled.epochs else replace(rest, epochs=1, train_batches=1)


def guard_epochs(planned: int, done: int, epoch_seconds: float, seconds_left: float, reserve: float,
                 margin: float) -> int:  # fmt: skip
    """The last fold's epochs, corrected from its own measured epochs (a machine slower or faster than its
    probe; no fold follows to re-plan): fewer when the plan would end more than half ``margin`` seconds past
    the deadline, more when whole epochs more fit with ``margin`` to spare; the plan's in between (a dead
    band, so noise does not move it back and forth). ``reserve``: what follows the fold (its out-of-fold and
    test prediction). Never fewer than ``done``."""
    room = max(0.0, seconds_left - reserve)
    if (planned - done) * epoch_seconds > room + margin / 2:
        return max(done, done + math.floor(room / epoch_seconds))
    more = done + math.floor(max(0.0, room - margin) / epoch_seconds)
    return more if more > planned else planned


def guard_checks(planned: int) -> set[int]:
    """After which epochs the last fold checks its pace: its second (its first pays for starting up; the
    first of short plans), then a quarter, half and three quarters of the way."""
    first = 2 if planned > 3 else 1
    return {first, *(max(first, round(planned * share)) for share in (0.25, 0.5, 0.75))}


def device_ids(devices, accelerator="auto") -> list[str]:
    """The devices a Trainer's ``devices`` names: 2 -> ["0", "1"], "0,3" or [0, 3] -> ["0", "3"], "auto" or -1
    -> every GPU (on a GPU accelerator; one device otherwise)."""
    if isinstance(devices, (list, tuple)):
        return [str(d) for d in devices]
    text = str(devices).strip()
    if text in ("-1", "auto"):
        import torch

        gpu = str(accelerator or "auto") in ("gpu", "cuda", "auto") and torch.cuda.is_available()
        return [str(i) for i in range(torch.cuda.device_count())] if gpu else ["0"]
    if "," in text:
        return [d.strip() for d in text.split(",") if d.strip()]
    return [str(i) for i in range(int(text))] if text.isdigit() and int(text) > 0 else ["0"]


def processes(trainer: dict) -> int:
    """How many processes share a fold's batches: devices x nodes (DDP deals out whole batches), else 1."""
    nodes = int(trainer.get("num_nodes") or 1)
    return len(device_ids(trainer.get("devices", 1), trainer.get("accelerator"))) * max(1, nodes)


def external_launcher() -> str | None:
    """torchrun or srun, when they started this process (and the others) instead of Lightning."""
    if os.environ.get("TORCHELASTIC_RUN_ID"):
        return "torchrun"
    if os.environ.get("SLURM_NTASKS", "").isdigit() and int(os.environ["SLURM_NTASKS"]) > 1:
        return "srun"
    return None


def steps(rows: int, batch_size: int, limit, drop_last: bool = False) -> int:
    """Batches in one pass over ``rows``, after a Trainer's limit_*_batches (int or fraction)."""
    batches = rows // batch_size if drop_last else math.ceil(rows / batch_size)
    if isinstance(limit, int) and not isinstance(limit, bool):
        return min(batches, limit)
    if isinstance(limit, float):
        return max(1, int(batches * limit)) if limit > 0 else 0
    return batches


class TooSlow(Exception):
    """A probe stopped early: the model's first steps show it cannot train enough epochs in the budget."""

    def __init__(self, step: float) -> None:
        super().__init__(f"a training step of about {step * 1000:.0f} ms")
        self.step = step


def too_slow_for(shape: dict, started: float, min_epochs: int):
    """The early verdict on a probe's first steps (seconds a step -> bool): True when even ``OPTIMISM`` of
    that time, with free validation and set-up, would leave the run (``shape``: the Plan's step counts)
    fewer than ``min_epochs`` per fold."""

    def verdict(step: float) -> bool:
        rates = Rates(OPTIMISM * step, OPTIMISM * step / 3, 0.0, 0.0)
        rough = Plan(**shape, spent_before=time.time() - started, rates=rates)
        try:
            return choose_epochs(rough) < min_epochs
        except BudgetError:
            return True

    return verdict


def probe_clock(too_slow=None):
    """A callback stamping a probe's epochs, batch ends and validation (and judging its first steps)."""
    from lightning.pytorch.callbacks import Callback

    class Clock(Callback):
        def __init__(self) -> None:
            self.epochs: list[dict] = []

        def on_train_epoch_start(self, *args) -> None:
            self.epochs.append({"start": time.perf_counter(), "train": [], "val_start": None, "val": [], "end": None})

        def on_train_batch_end(self, *args) -> None:
            ends = self.epochs[-1]["train"]
            ends.append(time.perf_counter())
            if too_slow is not None and len(self.epochs) == 1 and len(ends) == EARLY_STEPS + 1:
                step = (ends[-1] - ends[0]) / EARLY_STEPS  # the first batch also starts the loader: left out
                if too_slow(step):
                    raise TooSlow(step)

        def on_validation_epoch_start(self, *args) -> None:
            if self.epochs:
                self.epochs[-1]["val_start"] = time.perf_counter()

        def on_validation_batch_end(self, *args) -> None:
            if self.epochs:
                self.epochs[-1]["val"].append(time.perf_counter())

        def on_train_epoch_end(self, *args) -> None:
            self.epochs[-1]["end"] = time.perf_counter()  # after the epoch's validation and checkpoints

    return Clock()


def probe(make_trainer, model, datamodule, too_slow=None) -> Rates:
    """Time two short epochs of ``model`` (a throwaway copy) on the current fold. In the second epoch:
    the training span over its batches gives the training step, the validation span the evaluation
    step, the rest of the epoch its fixed cost; the wall time beyond both epochs is the fold's.
    ``too_slow`` (seconds a step -> bool) judges the first steps and raises TooSlow when it says so."""
    clock = probe_clock(too_slow)
    started = time.perf_counter()
    trainer = make_trainer(clock)
    trainer.fit(model, datamodule=datamodule)
    wall = time.perf_counter() - started
    epoch = clock.epochs[-1]
    train_span = (epoch["train"][-1] - epoch["start"]) if epoch["train"] else 0.0
    eval_span = (epoch["val"][-1] - epoch["val_start"]) if epoch["val"] and epoch["val_start"] else 0.0
    # A step is the time between batch ends (the first batch also pays for starting the loader: that
    # goes to the epoch's fixed cost, or short epochs would look slow per step).
    train, val = epoch["train"], epoch["val"]
    train_step = (train[-1] - train[0]) / (len(train) - 1) if len(train) > 1 else train_span / max(len(train), 1)
    eval_step = ((val[-1] - val[0]) / (len(val) - 1) if len(val) > 1 else eval_span / len(val)) if val else train_step / 3
    epoch_wall = (epoch["end"] or time.perf_counter()) - epoch["start"]
    epoch_overhead = max(0.0, epoch_wall - train_step * len(train) - eval_step * len(val))
    fold_overhead = max(0.0, wall - sum((e["end"] or started) - e["start"] for e in clock.epochs))
    return Rates(train_step, eval_step, epoch_overhead, fold_overhead)


def planned_epochs_from_environment() -> int | None:
    value = os.environ.get(PLAN_VARIABLE)
    return int(value) if value and value.isdigit() else None


def planned_batches_from_environment() -> int:
    value = os.environ.get(BATCHES_VARIABLE)
    return int(value) if value and value.isdigit() else 0


def planned_settings_from_environment() -> dict:
    value = os.environ.get(SETTINGS_VARIABLE)
    return json.loads(value) if value else {}


def planned_folds_from_environment() -> list[int] | None:
    value = os.environ.get(FOLDS_VARIABLE)
    return [int(k) for k in value.split(",")] if value else None
